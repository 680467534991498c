// The INI configuration: every error, each at its FILE:LINE, and the shipped sample.
#include "config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "config_parse.h"

namespace {

// ---- Errors, each at its line ----

TEST(ConfigError, UnknownSection) {
  expect_one_error("[server]\n[servers]\nworkers = 2\n" + std::string(kRoute), 2,
                   "unknown section [servers]");
  // Keys inside an unknown section are not reported again.
  Parsed p = parse("[bogus]\nanything = 1\nmore = 2\n" + std::string(kRoute));
  EXPECT_EQ(p.errors.size(), 1u) << dump(p.errors);
}

TEST(ConfigError, UnknownKeyListsKnownKeys) {
  Parsed p = parse("[server]\nworkers = 2\nthreads = 4\n" + std::string(kRoute));
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_EQ(
      p.errors[0],
      "test.ini:3: unknown key \"threads\" in [server]; known keys: listen, workers, "
      "log_level, error_log, access_log, access_log_format, max_connections, "
      "shutdown_timeout, shutdown_grace, user, group, pid_file, tls_cert, tls_key, "
      "tls_protocols, tls_ciphers, tls_ciphersuites, tls_client_ca, tls_verify_client, "
      "tls_session_tickets, "
      "tls_ticket_rotation, tls_tickets_per_handshake, max_connections_per_ip, "
      "handshake_rate_per_ip, "
      "handshake_burst_per_ip, per_ip_ipv6_prefix, per_ip_table_size, proxy_protocol_timeout, "
      "trusted_proxies, handshake_timeout, idle_timeout, "
      "ping_interval, max_message_size, connect_timeout, frame_timeout");
  Parsed r = parse("[route a]\npath = /a\nbackend = echo\nlisten = 1.2.3.4:5\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_EQ(r.errors[0],
            "test.ini:4: unknown key \"listen\" in [route a]; known keys: handshake_timeout, "
            "idle_timeout, ping_interval, max_message_size, connect_timeout, frame_timeout, path, "
            "backend, type, "
            "protocols, origins, forwarded, tls_verify, tls_ca, tls_client_cert, tls_client_key, "
            "proxy_protocol");
  // Route keys are unknown in [server], and keys are case-sensitive.
  expect_one_error("[server]\npath = /x\n" + std::string(kRoute), 2, "unknown key \"path\"");
  expect_one_error("[server]\nWorkers = 2\n" + std::string(kRoute), 2, "unknown key \"Workers\"");
}

struct BadValue {
  const char* section;  // "server" or "route"
  const char* key;
  const char* value;
  const char* message;
};

TEST(ConfigError, BadValuesForEachTypedKey) {
  const BadValue cases[] = {
      {"server", "listen", "localhost:8080", "bad listen address"},
      {"server", "listen", "127.0.0.1", "bad listen address"},
      {"server", "listen", "127.0.0.1:", "bad listen address"},
      {"server", "listen", "127.0.0.1:0", "bad listen address"},
      {"server", "listen", "127.0.0.1:65536", "bad listen address"},
      {"server", "listen", "[::1]", "bad listen address"},
      {"server", "listen", "300.1.1.1:80", "bad listen address"},
      {"server", "workers", "0", "bad workers"},
      {"server", "workers", "257", "bad workers"},
      {"server", "workers", "two", "bad workers"},
      {"server", "workers", "2x", "bad workers"},
      {"server", "workers", "-1", "bad workers"},
      {"server", "log_level", "verbose", "bad log_level"},
      {"server", "log_level", "INFO", "bad log_level"},
      {"server", "error_log", "off", "error_log cannot be off"},
      {"server", "access_log", "", "access_log is empty"},
      {"server", "max_connections", "0", "bad max_connections"},
      {"server", "max_connections", "10000001", "bad max_connections"},
      {"server", "max_connections", "1k", "bad max_connections"},
      {"server", "max_connections_per_ip", "-1", "bad max_connections_per_ip"},
      {"server", "handshake_rate_per_ip", "10", "write handshakes per second, minute or hour"},
      {"server", "handshake_rate_per_ip", "10/day", "bad handshake_rate_per_ip"},
      {"server", "per_ip_ipv6_prefix", "0", "bad per_ip_ipv6_prefix"},
      {"server", "per_ip_ipv6_prefix", "129", "bad per_ip_ipv6_prefix"},
      {"server", "per_ip_table_size", "7", "bad per_ip_table_size"},
      {"server", "handshake_timeout", "0", "handshake_timeout must be more than 0"},
      {"server", "handshake_timeout", "10 s", "bad duration"},
      {"server", "idle_timeout", "5x", "bad duration"},
      {"server", "idle_timeout", "1.5s", "bad duration"},
      {"server", "ping_interval", "-1", "bad duration"},
      {"server", "ping_interval", "s", "bad duration"},
      {"server", "connect_timeout", "0ms", "connect_timeout must be more than 0"},
      {"server", "connect_timeout", "1d", "bad duration"},
      {"server", "max_message_size", "0", "bad size"},
      {"server", "max_message_size", "16MB", "bad size"},
      {"server", "max_message_size", "1025G", "bad size"},
      {"server", "max_message_size", "big", "bad size"},
      {"route", "handshake_timeout", "0s", "handshake_timeout must be more than 0"},
      {"route", "idle_timeout", "forever", "bad duration"},
      {"route", "ping_interval", "10 m", "bad duration"},
      {"route", "connect_timeout", "0", "connect_timeout must be more than 0"},
      {"route", "max_message_size", "1T", "bad size"},
      {"route", "type", "json", "bad type"},
      {"route", "type", "Text", "bad type"},
      {"route", "protocols", "chat superchat", "bad subprotocol"},
      {"route", "protocols", "chat, v/2", "bad subprotocol"},
      {"route", "origins", "example.com", "bad origin"},
      {"route", "origins", "https://", "bad origin"},
      {"route", "origins", "https://example.com/", "bad origin"},
      {"route", "origins", "https://a.com, ://b.com", "bad origin"},
  };
  for (const BadValue& c : cases) {
    std::string line = std::string(c.key) + " = " + c.value + "\n";
    std::string text;
    int at;
    if (std::string(c.section) == "server") {
      text = "[server]\nworkers = 1\n" + line + kRoute;
      if (std::string(c.key) == "workers") text = "[server]\n\n" + line + kRoute;
      at = 3;
    } else {
      text = "[route a]\npath = /a\nbackend = echo\n" + line;
      at = 4;
    }
    expect_one_error(text, at, c.message);
  }
}

TEST(ConfigError, BadPathValues) {
  // (A rejected path also leaves the route without one, which is reported at its header.)
  expect_error("[route a]\npath = chat\nbackend = echo\n", 2, "bad path \"chat\"");
  expect_error("[route a]\nbackend = echo\npath = /a*b\n", 3,
               "bad path \"/a*b\"; a prefix path has one * at the end");
  expect_error("[route a]\npath = /a/**\nbackend = echo\n", 2, "bad path");
  expect_error("[route a]\npath = /*/x\nbackend = echo\n", 2, "bad path");
  expect_error("[route a]\npath = ~ ^/chat/[\nbackend = echo\n", 2,
               "bad regular expression \"^/chat/[\"");
  expect_error("[route a]\npath = ~ (unclosed\nbackend = echo\n", 2, "bad regular expression");
  expect_error("[route a]\npath = /q?x=1\nbackend = echo\n", 2,
               "bad path \"/q?x=1\"; a request path has no blanks, and its query");
  expect_error("[route a]\npath = /a b\nbackend = echo\n", 2, "bad path \"/a b\"");
}

// Request paths are normalized before matching: a route path must be normal to match at all.
TEST(ConfigError, RoutePathsMustBeNormal) {
  expect_error("[route a]\npath = /app/../admin\nbackend = echo\n", 2,
               "bad path \"/app/../admin\"; request paths are normalized before they are "
               "matched (see Request paths in wsgate(8)), so no request could match it; write "
               "\"/admin\"");
  expect_error("[route a]\npath = /app//*\nbackend = echo\n", 2, "write \"/app/*\"");
  expect_error("[route a]\npath = /%7euser\nbackend = echo\n", 2, "write \"/~user\"");
  expect_error("[route a]\npath = /a%2fb\nbackend = echo\n", 2, "write \"/a%2Fb\"");
  expect_error("[route a]\npath = /a/./*\nbackend = echo\n", 2, "write \"/a/*\"");
  expect_error("[route a]\npath = /a%zz\nbackend = echo\n", 2,
               "bad path \"/a%zz\"; malformed percent-encoding in the request path");
  expect_error("[route a]\npath = /..\nbackend = echo\n", 2, "climbs above the root");
  for (const char* ok :
       {"/", "/*", "/app/", "/app/*", "/app*", "/app/.w*", "/app/..*", "/a%2Fb", "/a/b/"}) {
    Config c = parse_ok(std::string("[route a]\npath = ") + ok + "\nbackend = echo\n");
    ASSERT_EQ(c.routes.size(), 1u) << ok;
    EXPECT_EQ(c.routes[0].path, ok);
  }
}

TEST(ConfigFile, ByteOrderMarkIsSkipped) {
  Config c = parse_ok("\xEF\xBB\xBF[route a]\npath = /a\nbackend = echo\n");
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].path, "/a");
}

TEST(ConfigFile, OriginsMayRepeatSoLongListsNeedNoLongLine) {
  Config c = parse_ok(
      "[route a]\npath = /a\nbackend = echo\norigins = https://a.example, https://b.example\n"
      "origins = https://c.example\n");
  EXPECT_EQ(c.routes[0].origins, (std::vector<std::string>{"https://a.example", "https://b.example",
                                                           "https://c.example"}));
}

TEST(ConfigError, DuplicateKeyInSection) {
  expect_one_error("[server]\nworkers = 2\nlog_level = info\nworkers = 3\n" + std::string(kRoute),
                   4, "\"workers\" is set twice");
  expect_one_error("[route a]\npath = /a\nbackend = echo\ntype = text\ntype = binary\n", 5,
                   "\"type\" is set twice");
  expect_one_error("[route a]\npath = /a\nbackend = echo\npath = /b\n", 4, "\"path\" is set twice");
  // The same key in different sections is fine, and listen repeats by design.
  parse_ok(
      "[server]\nmax_message_size = 1M\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n"
      "[route a]\npath = /a\nbackend = echo\nmax_message_size = 2M\n"
      "[route b]\npath = /b\nbackend = echo\nmax_message_size = 3M\n");
}

TEST(ConfigError, DuplicateListenAddress) {
  expect_one_error("[server]\nlisten = [::1]:8080\nlisten = [::1]:8080\n" + std::string(kRoute), 3,
                   "given twice");
}

TEST(ConfigError, DuplicateRoutePathReportedAtSecondPath) {
  Parsed p = parse(
      "[route a]\n"
      "path = /same\n"
      "backend = echo\n"
      "\n"
      "[route b]\n"
      "backend = echo\n"
      "path = /same\n");
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_EQ(p.errors[0],
            "test.ini:7: path /same is already routed at line 2; each path belongs to one route");
  // Prefix and regex paths are compared the same way.
  expect_one_error(
      "[route a]\npath = /v/*\nbackend = echo\n[route b]\npath = /v/*\nbackend = echo\n", 5,
      "already routed at line 2");
  expect_one_error(
      "[route a]\npath = ~ ^/x$\nbackend = echo\n[route b]\npath = ~   ^/x$\nbackend = echo\n", 5,
      "already routed at line 2");
}

TEST(ConfigError, DuplicateRouteName) {
  Parsed p = parse(
      "[route a]\npath = /a\nbackend = echo\n"
      "[route b]\npath = /b\nbackend = echo\n"
      "[route a]\npath = /c\nbackend = echo\n");
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_EQ(p.errors[0], "test.ini:7: route \"a\" is defined twice (first at line 1); rename one");
}

TEST(ConfigError, RouteWithoutName) {
  expect_one_error("[route]\npath = /a\nbackend = echo\n", 1, "[route] needs a name");
}

TEST(ConfigError, MissingBackendAtRouteHeader) {
  Parsed p = parse("[server]\nworkers = 1\n\n[route web]\npath = /web\ntype = text\n");
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_EQ(p.errors[0],
            "test.ini:4: [route web] has no backend; add e.g. backend = tcp://127.0.0.1:7000");
}

TEST(ConfigError, MissingPathAtRouteHeader) {
  Parsed p = parse(std::string(kRoute) + "[route web]\nbackend = echo\n");
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_EQ(p.errors[0], "test.ini:4: [route web] has no path; add e.g. path = /web");
}

TEST(ConfigError, EmptyRouteSection) {
  Parsed p = parse(std::string(kRoute) + "[route empty]\n");
  EXPECT_EQ(p.errors.size(), 2u) << dump(p.errors);
  expect_error(std::string(kRoute) + "[route empty]\n", 4, "has no path");
  expect_error(std::string(kRoute) + "[route empty]\n", 4, "has no backend");
}

TEST(ConfigError, NoRoutes) {
  Parsed p = parse("[server]\nworkers = 2\n");
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_NE(p.errors[0].find("no routes"), std::string::npos);
  EXPECT_EQ(p.errors[0].compare(0, 9, "test.ini:"), 0);
  Parsed empty = parse("");
  ASSERT_EQ(empty.errors.size(), 1u) << dump(empty.errors);
  EXPECT_EQ(empty.errors[0].compare(0, 11, "test.ini:1:"), 0) << empty.errors[0];
  EXPECT_NE(empty.errors[0].find("no routes"), std::string::npos);
}

TEST(ConfigError, KeyOutsideAnySection) {
  expect_one_error("; header comment\nworkers = 2\n[server]\n" + std::string(kRoute), 2,
                   "\"workers\" is outside any section");
}

TEST(ConfigError, LineWithoutEquals) {
  expect_one_error("[server]\nworkers 2\n" + std::string(kRoute), 2, "expected KEY = VALUE");
  expect_one_error(std::string(kRoute) + "   type\n", 4, "expected KEY = VALUE");
}

TEST(ConfigError, UnterminatedSectionHeader) {
  expect_one_error("[server]\nworkers = 1\n[route a\n" + std::string(kRoute), 3, "syntax error");
}

TEST(ConfigError, OverlongLine) {
  std::string longline = "error_log = /" + std::string(250, 'x') + "\n";
  expect_one_error("[server]\n" + longline + kRoute, 2, "line is longer than 199 bytes");
}

TEST(ConfigError, SeveralErrorsAllReported) {
  Parsed p = parse(
      "[server]\n"        // 1
      "workers = zero\n"  // 2
      "bogus = 1\n"       // 3
      "[route a]\n"       // 4
      "path = /a\n"       // 5
      "backend = echo\n"  // 6
      "type = json\n"     // 7
      "[route b]\n"       // 8
      "path = /a\n"       // 9
      "backend = echo\n"  // 10
      "[nope]\n");        // 11
  EXPECT_FALSE(p.ok);
  std::vector<std::string> prefixes;
  for (const std::string& e : p.errors) prefixes.push_back(e.substr(0, e.find(": ") + 1));
  std::sort(prefixes.begin(), prefixes.end());
  EXPECT_EQ(prefixes, (std::vector<std::string>{"test.ini:11:", "test.ini:2:", "test.ini:3:",
                                                "test.ini:7:", "test.ini:9:"}))
      << dump(p.errors);
}

TEST(ConfigError, BareIpv6ListenWithoutPortRejected) {
  // "[IPv6]:PORT" is the documented form; a bare IPv6 address has no port at all.
  expect_one_error("[server]\nlisten = ::1\n" + std::string(kRoute), 2, "bad listen address");
  expect_one_error("[server]\nlisten = fe80::1:8080\n" + std::string(kRoute), 2,
                   "bad listen address");
}

TEST(ConfigLoad, MissingFile) {
  Config c;
  std::vector<std::string> errors;
  EXPECT_FALSE(config_load("/nonexistent/dir/wsgate.ini", c, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].compare(0, 29, "/nonexistent/dir/wsgate.ini:0"), 0) << errors[0];
}

TEST(ConfigLoad, ShippedSampleIsValid) {
  Config c;
  std::vector<std::string> errors;
  // The build passes the source tree's path (a skip here was a test that never ran).
  std::string path = std::string(WSGATE_SRCDIR) + "/conf/wsgate.ini";
  ASSERT_TRUE(config_load(path, c, errors)) << dump(errors);
  ASSERT_FALSE(c.routes.empty());
  EXPECT_EQ(c.routes[0].path, "/echo");
  EXPECT_EQ(c.routes[0].backend.kind, BackendAddr::Kind::kEcho);
}

}  // namespace

TEST(ConfigError, RegexTooComplex) {
  // Stacked repetition made glibc's regcomp use gigabytes (found by the config fuzzer).
  for (const char* re : {"^/a/[0-9]++++++++$", "^/a*+$", "(a{40}){40}", "a{2000}"}) {
    SCOPED_TRACE(re);
    expect_error("[route a]\npath = ~ " + std::string(re) + "\nbackend = echo\n", 2,
                 "is too complex");
  }
  for (const char* re : {"^/a/[0-9]+$", "^/c/[0-9]{1,6}$", "^/x[+*]+$", "^/(ab)+/\\++$"}) {
    SCOPED_TRACE(re);
    parse_ok("[route a]\npath = ~ " + std::string(re) + "\nbackend = echo\n");
  }
}
