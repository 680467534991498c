// The INI configuration: values, defaults and overrides of good configs, sizes and durations,
// and the key table.
#include "config.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

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
