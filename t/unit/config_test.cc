// The INI configuration: values, defaults, overrides, and every error with its line number.
#include "config.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config_parse.h"

namespace {

int port_of(const ListenAddr& a) {
  if (a.addr.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&a.addr)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&a.addr)->sin6_port);
}

// ---- Good configs ----

TEST(Config, Defaults) {
  Config c = parse_ok(kRoute);
  EXPECT_EQ(c.file, "test.ini");
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].text, "127.0.0.1:8080");
  EXPECT_EQ(c.listen[0].addr.ss_family, AF_INET);
  EXPECT_EQ(port_of(c.listen[0]), 8080);
  EXPECT_EQ(c.workers, 1);
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
  EXPECT_EQ(c.error_log, "stderr");
  EXPECT_EQ(c.access_log, "stderr");
  EXPECT_EQ(c.max_connections, 10000u);
  EXPECT_EQ(c.limits.handshake_timeout_ms, 10000u);
  EXPECT_EQ(c.limits.idle_timeout_ms, 0u);
  EXPECT_EQ(c.limits.ping_interval_ms, 0u);
  EXPECT_EQ(c.limits.max_message_size, 16u << 20);
  EXPECT_EQ(c.limits.connect_timeout_ms, 5000u);
  ASSERT_EQ(c.routes.size(), 1u);
  const RouteConfig& r = c.routes[0];
  EXPECT_EQ(r.name, "echo");
  EXPECT_EQ(r.line, 1);
  EXPECT_EQ(r.path, "/echo");
  EXPECT_EQ(r.path_line, 2);
  EXPECT_TRUE(r.has_backend);
  EXPECT_EQ(r.backend.kind, BackendAddr::Kind::kEcho);
  EXPECT_EQ(r.type, MessageType::kBinary);
  EXPECT_TRUE(r.protocols.empty());
  EXPECT_TRUE(r.origins.empty());
  EXPECT_EQ(r.limits.max_message_size, 16u << 20);
  EXPECT_EQ(r.limits.handshake_timeout_ms, 10000u);
}

TEST(Config, FullServerSection) {
  Config c = parse_ok(
      "[server]\n"
      "listen = 127.0.0.1:8080\n"
      "listen = [::1]:9090\n"
      "listen = 0.0.0.0:80\n"
      "workers = 4\n"
      "log_level = debug\n"
      "error_log = /var/log/wsgate/error.log\n"
      "access_log = off\n"
      "handshake_timeout = 250ms\n"
      "idle_timeout = 5m\n"
      "ping_interval = 1h\n"
      "max_message_size = 512k\n"
      "max_connections = 20\n"
      "connect_timeout = 7\n" +
      std::string(kRoute));
  ASSERT_EQ(c.listen.size(), 3u);
  EXPECT_EQ(c.listen[0].addr.ss_family, AF_INET);
  EXPECT_EQ(port_of(c.listen[0]), 8080);
  EXPECT_EQ(c.listen[1].text, "[::1]:9090");
  EXPECT_EQ(c.listen[1].addr.ss_family, AF_INET6);
  EXPECT_EQ(port_of(c.listen[1]), 9090);
  EXPECT_EQ(c.listen[1].addrlen, static_cast<int>(sizeof(sockaddr_in6)));
  EXPECT_EQ(c.listen[0].addrlen, static_cast<int>(sizeof(sockaddr_in)));
  EXPECT_EQ(port_of(c.listen[2]), 80);
  EXPECT_EQ(c.workers, 4);
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
  EXPECT_EQ(c.error_log, "/var/log/wsgate/error.log");
  EXPECT_EQ(c.access_log, "off");
  EXPECT_EQ(c.limits.handshake_timeout_ms, 250u);
  EXPECT_EQ(c.limits.idle_timeout_ms, 5u * 60 * 1000);
  EXPECT_EQ(c.limits.ping_interval_ms, 3600u * 1000);
  EXPECT_EQ(c.limits.max_message_size, 512u * 1024);
  EXPECT_EQ(c.max_connections, 20u);
  EXPECT_EQ(c.limits.connect_timeout_ms, 7000u);
  // The route inherits the [server] defaults.
  const Limits& l = c.routes[0].limits;
  EXPECT_EQ(l.handshake_timeout_ms, 250u);
  EXPECT_EQ(l.idle_timeout_ms, 5u * 60 * 1000);
  EXPECT_EQ(l.ping_interval_ms, 3600u * 1000);
  EXPECT_EQ(l.max_message_size, 512u * 1024);
  EXPECT_EQ(l.connect_timeout_ms, 7000u);
}

TEST(Config, WorkersAuto) {
  Config c = parse_ok("[server]\nworkers = auto\n" + std::string(kRoute));
  unsigned n = std::thread::hardware_concurrency();
  EXPECT_EQ(c.workers, n ? static_cast<int>(n) : 1);
  EXPECT_GE(c.workers, 1);
}

TEST(Config, LogLevels) {
  const std::pair<const char*, LogLevel> levels[] = {{"error", LogLevel::kError},
                                                     {"warn", LogLevel::kWarn},
                                                     {"info", LogLevel::kInfo},
                                                     {"debug", LogLevel::kDebug}};
  for (const auto& [name, level] : levels) {
    Config c = parse_ok("[server]\nlog_level = " + std::string(name) + "\n" + kRoute);
    EXPECT_EQ(c.log_level, level) << name;
  }
}

TEST(Config, RouteOverrides) {
  Config c = parse_ok(
      "[server]\n"
      "max_message_size = 1G\n"
      "idle_timeout = 10s\n"
      "[route a]\n"
      "path = /a\n"
      "backend = tcp://127.0.0.1:7000\n"
      "max_message_size = 16M\n"
      "handshake_timeout = 3s\n"
      "idle_timeout = 0\n"
      "ping_interval = 30\n"
      "connect_timeout = 500ms\n"
      "[route b]\n"
      "path = /b\n"
      "backend = echo\n");
  const Limits& a = c.routes[0].limits;
  EXPECT_EQ(a.max_message_size, 16u << 20);
  EXPECT_EQ(a.handshake_timeout_ms, 3000u);
  EXPECT_EQ(a.idle_timeout_ms, 0u);  // an explicit 0 overrides the [server] 10s
  EXPECT_EQ(a.ping_interval_ms, 30000u);
  EXPECT_EQ(a.connect_timeout_ms, 500u);
  const Limits& b = c.routes[1].limits;
  EXPECT_EQ(b.max_message_size, uint64_t{1} << 30);
  EXPECT_EQ(b.idle_timeout_ms, 10000u);
  EXPECT_EQ(b.handshake_timeout_ms, 10000u);
  EXPECT_EQ(b.connect_timeout_ms, 5000u);
  // [server] itself is unchanged by the routes.
  EXPECT_EQ(c.limits.max_message_size, uint64_t{1} << 30);
  EXPECT_EQ(c.limits.connect_timeout_ms, 5000u);
}

TEST(Config, ServerDefaultsApplyEvenWhenServerComesLast) {
  Config c =
      parse_ok(std::string(kRoute) + "[server]\nmax_message_size = 2k\nping_interval = 1m\n");
  EXPECT_EQ(c.routes[0].limits.max_message_size, 2048u);
  EXPECT_EQ(c.routes[0].limits.ping_interval_ms, 60000u);
}

TEST(Config, RouteKeys) {
  Config c = parse_ok(
      "[route chat]\n"
      "path = ~ ^/chat/[0-9]+$\n"
      "backend = tcp://[::1]:7001\n"
      "type = text\n"
      "protocols = binary, chat ,v2.json\n"
      "origins = https://Example.com, https://*.example.com\n"
      "[route vnc]\n"
      "path = /vnc/*\n"
      "backend = unix:/run/vnc.sock\n"
      "type = binary\n"
      "[route host]\n"
      "path = /host\n"
      "backend = tcp://backend.internal:65535/\n");
  ASSERT_EQ(c.routes.size(), 3u);
  const RouteConfig& chat = c.routes[0];
  EXPECT_EQ(chat.path, "~ ^/chat/[0-9]+$");
  EXPECT_EQ(chat.backend.kind, BackendAddr::Kind::kTcp);
  EXPECT_EQ(chat.backend.host, "::1");
  EXPECT_EQ(chat.backend.port, 7001);
  EXPECT_EQ(chat.backend.text, "tcp://[::1]:7001");
  EXPECT_EQ(chat.type, MessageType::kText);
  EXPECT_EQ(chat.protocols, (std::vector<std::string>{"binary", "chat", "v2.json"}));
  EXPECT_EQ(chat.origins,
            (std::vector<std::string>{"https://example.com", "https://*.example.com"}));
  const RouteConfig& vnc = c.routes[1];
  EXPECT_EQ(vnc.path, "/vnc/*");
  EXPECT_EQ(vnc.backend.kind, BackendAddr::Kind::kUnix);
  EXPECT_EQ(vnc.backend.path, "/run/vnc.sock");
  EXPECT_EQ(vnc.type, MessageType::kBinary);
  const RouteConfig& host = c.routes[2];
  EXPECT_EQ(host.backend.host, "backend.internal");
  EXPECT_EQ(host.backend.port, 65535);
}

TEST(Config, RegexPathIsNormalised) {
  Config c = parse_ok("[route r]\npath = ~^/x$\nbackend = echo\n");
  EXPECT_EQ(c.routes[0].path, "~ ^/x$");
}

TEST(Config, CommentsAndIndentation) {
  Config c = parse_ok(
      "; a comment\n"
      "# another comment\n"
      "\n"
      "[server]   ; trailing comment on a section\n"
      "  ; indented comment\n"
      "\t# indented hash comment\n"
      "  workers = 3   ; inline semicolon comment\n"
      "\tlog_level = warn # inline hash comment\n"
      "    listen = 127.0.0.1:9000\n"
      "\n"
      "  [route echo]\n"
      "    path = /echo\t# where\n"
      "    backend = echo ; built in\n");
  EXPECT_EQ(c.workers, 3);
  EXPECT_EQ(c.log_level, LogLevel::kWarn);
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(port_of(c.listen[0]), 9000);
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].path, "/echo");
  EXPECT_EQ(c.routes[0].line, 11);
  EXPECT_EQ(c.routes[0].path_line, 12);
  EXPECT_EQ(c.routes[0].backend.kind, BackendAddr::Kind::kEcho);
}

TEST(Config, CrlfLineEndings) {
  Config c = parse_ok("[server]\r\nworkers = 2\r\n[route a]\r\npath = /a\r\nbackend = echo\r\n");
  EXPECT_EQ(c.workers, 2);
  EXPECT_EQ(c.routes[0].path, "/a");
}

TEST(Config, LastLineWithoutNewline) {
  Config c = parse_ok("[route a]\npath = /a\nbackend = echo");
  EXPECT_EQ(c.routes[0].backend.kind, BackendAddr::Kind::kEcho);
}

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

TEST(ConfigError, BadBackendValues) {
  for (const char* b : {"tcp://127.0.0.1", "tcp://127.0.0.1:0", "tcp://127.0.0.1:65536",
                        "tcp://:7000", "tcp://127.0.0.1:70x", "http://x:80", "unix:", "echo2",
                        "tcp://[::1]", "tcp://::1:7001", "ws://::1/x"}) {
    SCOPED_TRACE(b);
    expect_error("[route a]\npath = /a\nbackend = " + std::string(b) + "\n", 3, "bad backend");
  }
  expect_error("[route a]\npath = /a\nbackend = unix:/" + std::string(120, 'x') + "\n", 3,
               "unix socket path is too long");
}

TEST(ConfigError, BackendWithUserInformationIsRefused) {
  for (const char* b : {"ws://user:pw@127.0.0.1:9001/x", "wss://u@h", "tls://a:b@db:5433"}) {
    SCOPED_TRACE(b);
    Parsed p = parse("[route a]\npath = /a\nbackend = " + std::string(b) + "\n");
    ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
    EXPECT_EQ(p.errors[0].rfind("test.ini:3: backend URL has user information", 0), 0u)
        << p.errors[0];
    EXPECT_EQ(p.errors[0].find("pw"), std::string::npos) << "the password is not repeated";
  }
  parse_ok("[route a]\npath = /a\nbackend = ws://127.0.0.1:9001/a@b\n");
}

TEST(Config, TlsBackend) {
  Config cfg = parse_ok("[route a]\npath = /a\nbackend = tls://db.internal:5433\n");
  const BackendAddr& b = cfg.routes[0].backend;
  EXPECT_EQ(b.kind, BackendAddr::Kind::kTls);
  EXPECT_EQ(b.host, "db.internal");
  EXPECT_EQ(b.port, 5433);
  EXPECT_TRUE(b.tls());
  EXPECT_TRUE(b.bridge());
  EXPECT_FALSE(b.websocket());
  EXPECT_EQ(parse_ok("[route a]\npath = /a\nbackend = tls://[::1]:7000\n").routes[0].backend.host,
            "::1");
  for (const char* bad : {"tls://127.0.0.1", "tls://h:0", "tls://:7000", "tls://[::1]", "tls://"}) {
    SCOPED_TRACE(bad);
    expect_error("[route a]\npath = /a\nbackend = " + std::string(bad) + "\n", 3,
                 "write tls://HOST:PORT");
  }
}

TEST(ConfigError, TlsKeysOnlyForTlsBackends) {
  expect_error("[route a]\npath = /a\nbackend = ws://127.0.0.1:9000\ntls_verify = off\n", 4,
               "[route a] sets tls_verify, which only applies to tls:// and wss:// backends");
  for (const char* key : {"tls_ca", "tls_client_cert", "tls_client_key"}) {
    SCOPED_TRACE(key);
    expect_error(
        "[route a]\npath = /a\nbackend = tcp://127.0.0.1:9000\n" + std::string(key) + " = /x.pem\n",
        4, "[route a] sets " + std::string(key) + ", which only applies to tls:// and");
  }
  expect_error("[route a]\npath = /a\nbackend = tls://h:1\ntls_client_cert = /x.pem\n", 4,
               "tls_client_cert and tls_client_key go together; set tls_client_key as well");
  expect_error("[route a]\npath = /a\nbackend = wss://h\n\ntls_client_key = /x.pem\n", 5,
               "tls_client_cert and tls_client_key go together; set tls_client_cert as well");
  expect_error(
      "[route a]\npath = /a\nbackend = tls://h:1\ntls_client_key =\ntls_client_cert = /x\n", 5,
      "tls_client_cert and tls_client_key go together; set tls_client_key as well");
  expect_error(
      "[route a]\npath = /a\nbackend = tls://h:1\ntls_client_cert = /nonexistent/c.pem\n"
      "tls_client_key = /nonexistent/k.pem\n",
      4, "cannot load the certificate chain /nonexistent/c.pem");
  expect_error("[route a]\npath = /a\nbackend = tcp://127.0.0.1:9000\nforwarded = on\n", 1,
               "[route a] sets forwarded, which only applies to ws:// and wss:// backends");
  expect_error("[route a]\npath = /a\nbackend = wss://h\ntls_ca = /nonexistent/ca.pem\n", 4,
               "cannot load CA certificates from /nonexistent/ca.pem");
  expect_error("[route a]\npath = /a\nbackend = wss://h\ntls_verify = maybe\n", 4,
               "bad tls_verify \"maybe\"; write on or off");
}

TEST(Config, WssBackend) {
  Config cfg = parse_ok("[route a]\npath = /a\nbackend = wss://example.com/x\ntls_verify = off\n");
  const BackendAddr& b = cfg.routes[0].backend;
  EXPECT_EQ(b.kind, BackendAddr::Kind::kWss);
  EXPECT_EQ(b.port, 443);
  EXPECT_EQ(b.path, "/x");
  EXPECT_FALSE(cfg.routes[0].tls_verify);
  EXPECT_TRUE(parse_ok("[route a]\npath = /a\nbackend = wss://h:8443\n").routes[0].tls_verify);
}

TEST(Config, WebSocketBackends) {
  struct Case {
    const char* text;
    const char* host;
    int port;
    const char* path;
  } cases[] = {
      {"ws://127.0.0.1:9001/socket", "127.0.0.1", 9001, "/socket"},
      {"ws://example.com", "example.com", 80, ""},
      {"ws://example.com/", "example.com", 80, "/"},
      {"ws://[::1]:9001", "::1", 9001, ""},
      {"ws://[::1]/a/b", "::1", 80, "/a/b"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    Config cfg =
        parse_ok("[route a]\npath = /a\nforwarded = on\nbackend = " + std::string(c.text) + "\n");
    const BackendAddr& b = cfg.routes[0].backend;
    EXPECT_EQ(b.kind, BackendAddr::Kind::kWs);
    EXPECT_TRUE(b.websocket());
    EXPECT_EQ(b.host, c.host);
    EXPECT_EQ(b.port, c.port);
    EXPECT_EQ(b.path, c.path);
    EXPECT_TRUE(cfg.routes[0].forwarded);
  }
  for (const char* bad : {"ws://", "ws://:80", "ws://host:0", "ws://host:65536", "ws://h/p?q",
                          "ws://h/p#f", "ws://[::1"}) {
    SCOPED_TRACE(bad);
    expect_error("[route a]\npath = /a\nbackend = " + std::string(bad) + "\n", 3,
                 "write ws[s]://HOST[:PORT][/PATH]");
  }
  expect_error("[route a]\npath = /a\nbackend = echo\nforwarded = yes\n", 4,
               "bad forwarded \"yes\"; write on or off");
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

// ---- parse_size / parse_duration ----

TEST(ParseSize, Values) {
  struct Case {
    const char* in;
    uint64_t out;
  } good[] = {
      {"0", 0},
      {"1", 1},
      {"100", 100},
      {"512k", 512u * 1024},
      {"512K", 512u * 1024},
      {"16M", 16u << 20},
      {"16m", 16u << 20},
      {"1G", uint64_t{1} << 30},
      {"1g", uint64_t{1} << 30},
      {"1024G", uint64_t{1} << 40},
      {"17179869183G", (uint64_t{17179869183}) << 30},
  };
  for (const Case& c : good) {
    uint64_t v = 12345;
    EXPECT_TRUE(parse_size(c.in, v)) << c.in;
    EXPECT_EQ(v, c.out) << c.in;
  }
  for (const char* bad : {"", "k", "M", "-1", "+1", "1.5M", "16MB", "16 M", " 16", "16T", "1e6",
                          "0x10", "17179869184G", "17592186044416M", "18014398509481984k",
                          "99999999999999999999", "18446744073709551616"}) {
    uint64_t v = 777;
    EXPECT_FALSE(parse_size(bad, v)) << bad;
  }
}

TEST(ParseDuration, Values) {
  struct Case {
    const char* in;
    uint64_t ms;
  } good[] = {
      {"0", 0},        {"250ms", 250}, {"10s", 10000}, {"10", 10000},      {"5m", 300000},
      {"1h", 3600000}, {"0ms", 0},     {"1ms", 1},     {"48h", 172800000}, {"1000000s", 1000000000},
  };
  for (const Case& c : good) {
    uint64_t v = 12345;
    EXPECT_TRUE(parse_duration(c.in, v)) << c.in;
    EXPECT_EQ(v, c.ms) << c.in;
  }
  for (const char* bad :
       {"", "ms", "s", "-1", "1.5s", "10 s", "10S", "1d", "1w", "10sec", "5min", "1hr", "m5",
        "99999999999999999999", "18446744073709552s", "5124095576030432h", "307445734561825861m"}) {
    uint64_t v = 777;
    EXPECT_FALSE(parse_duration(bad, v)) << bad;
  }
}

TEST(ParseDuration, NeverWrapsAround) {
  // Whatever it accepts must be the exact product; anything that would overflow is refused.
  const std::pair<const char*, uint64_t> units[] = {
      {"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000}, {"h", 3600000}};
  for (const auto& [suffix, scale] : units) {
    for (int shift = 0; shift < 64; shift++) {
      for (uint64_t delta : {uint64_t{0}, uint64_t{1}}) {
        uint64_t n = (uint64_t{1} << shift) - delta;
        if (n == 0) continue;
        std::string s = std::to_string(n) + suffix;
        uint64_t v = 0;
        bool ok = parse_duration(s, v);
        unsigned __int128 exact = static_cast<unsigned __int128>(n) * scale;
        if (exact > UINT64_MAX) {
          EXPECT_FALSE(ok) << s;
        } else if (ok) {
          EXPECT_EQ(v, static_cast<uint64_t>(exact)) << s;
        }
      }
    }
  }
}

TEST(ParseSize, NeverWrapsAround) {
  const std::pair<const char*, int> units[] = {{"", 0}, {"k", 10}, {"M", 20}, {"G", 30}};
  for (const auto& [suffix, shift_by] : units) {
    for (int shift = 0; shift < 64; shift++) {
      uint64_t n = uint64_t{1} << shift;
      std::string s = std::to_string(n) + suffix;
      uint64_t v = 0;
      bool ok = parse_size(s, v);
      if (shift + shift_by >= 64) {
        EXPECT_FALSE(ok) << s;
      } else if (ok) {
        EXPECT_EQ(v, n << shift_by) << s;
      }
    }
  }
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

// ---- The key table ----

TEST(ConfigTable, RowsAreWellFormed) {
  std::set<std::string> names;
  for (const OptionInfo& o : config_options()) {
    SCOPED_TRACE(o.name);
    // A name may be a key of two sections (listen: [server] and [metrics]), once in each.
    EXPECT_TRUE(names.insert(o.name + std::to_string(static_cast<int>(o.scope))).second)
        << "listed twice";
    EXPECT_TRUE(o.doc && *o.doc) << "no doc line";
    EXPECT_EQ(o.type == ConfigType::kEnum, o.choices != nullptr);
    if (o.max) {
      EXPECT_LE(o.min, o.max);
    }
    EXPECT_STRNE(config_type_name(o.type), "?");
  }
}

// Each row's default is what the structs start with, and written out it parses to the same.
TEST(ConfigTable, DefaultsMatchTheStructs) {
  std::string server = "[server]\n", route = "[route r]\npath = /r\nbackend = wss://h\n";
  for (const Config& c : {parse_ok(kRoute), Config()}) {
    RouteConfig fresh;
    const RouteConfig* r = c.routes.empty() ? &fresh : &c.routes[0];
    for (const OptionInfo& o : config_options()) {
      SCOPED_TRACE(o.name);
      std::string value;
      if (o.scope == ConfigScope::kTls) continue;  // required keys of [tls] sections
      // A row whose member does not fit its type has no value.
      if (o.scope != ConfigScope::kRoute) {
        ASSERT_TRUE(config_option_value(o.name, o.scope, c, nullptr, value));
        // listen has no entry until the file is read; then it gets the default.
        if (o.default_text && !(c.routes.empty() && o.type == ConfigType::kAddress)) {
          EXPECT_EQ(value, o.default_text) << "in [server]";
        }
      }
      if (o.scope == ConfigScope::kRoute || o.scope == ConfigScope::kBoth) {
        ASSERT_TRUE(config_option_value(o.name, c, r, value));
        if (o.default_text) {
          EXPECT_EQ(value, o.default_text) << "in a route";
        }
      }
    }
  }
  // [metrics] listen's default is unset, which has no written form.
  for (const OptionInfo& o : config_options())
    if (o.default_text && o.scope != ConfigScope::kTls && o.scope != ConfigScope::kMetrics)
      (o.scope == ConfigScope::kRoute ? route : server) +=
          std::string(o.name) + " = " + o.default_text + "\n";
  Config c = parse_ok(server + route);
  for (const OptionInfo& o : config_options()) {
    std::string value;
    if (!o.default_text || o.scope == ConfigScope::kMetrics) continue;
    EXPECT_TRUE(config_option_value(o.name, o.scope, c, &c.routes[0], value));
    EXPECT_EQ(value, o.default_text) << o.name << " written out";
  }
}

TEST(ConfigTable, ValueOfUnknownKey) {
  std::string value;
  EXPECT_FALSE(config_option_value("threads", Config(), nullptr, value));
  EXPECT_FALSE(config_option_value("path", Config(), nullptr, value)) << "a route key, no route";
}
