// Every config key as one row (name, scope, type, member, default, range, doc), the one
// parser per type that reads a value into its member, and the few keys' own checks.
#include "config_table.h"

#include <string.h>

#include <algorithm>
#include <sstream>
#include <type_traits>

#include "client_limits.h"
#include "config_checks.h"
#include "config_values.h"
#include "privileges.h"

namespace {

constexpr uint64_t kAny = 0;  // as a max: no upper bound

using S = ConfigScope;
using T = ConfigType;

// Every key wsgate knows. Docs: man/wsgate.8 and conf/wsgate.ini; t/unit/config_docs_test.cc
// checks that both name exactly these keys, and config_test.cc that the defaults are right.
// {{name, scope, type, repeatable, default, min, max, enum words, hint, doc}, member, check}
const std::vector<Option> kOptions = {
    {{"listen", S::kServer, T::kAddress, true, "127.0.0.1:8080", 0, kAny, nullptr, nullptr,
      "an address to accept clients on, with tls after it for TLS and proxy for a PROXY "
      "protocol header first; repeat the key for more"},
     &Config::listen,
     nullptr},
    {{"workers", S::kServer, T::kNumber, false, "1", 1, 256, nullptr, "auto",
      "worker threads, each with its own event loop; auto for one per CPU core"},
     &Config::workers,
     check_workers},
    {{"log_level", S::kServer, T::kEnum, false, "info", 0, kAny, "error|warn|info|debug", nullptr,
      "the least severe message the error log shows"},
     &Config::log_level,
     nullptr},
    {{"error_log", S::kServer, T::kString, false, "stderr", 1, kAny, nullptr,
      "stderr, syslog or a file path", "where log messages go"},
     &Config::error_log,
     check_error_log},
    {{"access_log", S::kServer, T::kString, false, "stderr", 1, kAny, nullptr,
      "off, stderr, syslog or a file path", "where the line per finished connection goes"},
     &Config::access_log,
     nullptr},
    {{"access_log_format", S::kServer, T::kEnum, false, "text", 0, kAny, "text|json", nullptr,
      "the access log's lines: text fields, or one JSON object each"},
     &Config::access_log_format,
     nullptr},
    {{"max_connections", S::kServer, T::kNumber, false, "10000", 1, 10000000, nullptr, nullptr,
      "the most client connections open at once, over all workers"},
     &Config::max_connections,
     nullptr},
    {{"shutdown_timeout", S::kServer, T::kDuration, false, "30s", 0, kAny, nullptr, nullptr,
      "on SIGTERM, how long open connections get to finish closing"},
     &Config::shutdown_timeout_ms,
     nullptr},
    {{"shutdown_grace", S::kServer, T::kDuration, false, "0", 0, kAny, nullptr, nullptr,
      "on SIGTERM, how long to go on serving with /healthz at 503 before stopping"},
     &Config::shutdown_grace_ms,
     nullptr},
    {{"user", S::kServer, T::kString, false, "", 0, kAny, nullptr, "an account name",
      "after binding the listeners, switch to this user (needs a start as root)"},
     &Config::user,
     check_user_name},
    {{"group", S::kServer, T::kString, false, "", 0, kAny, nullptr, "a group name",
      "after binding, switch to this group; unset: the user's own"},
     &Config::group,
     check_group_name},
    {{"pid_file", S::kServer, T::kString, false, "", 0, kAny, nullptr, "a file path",
      "write the process id here after binding, and remove it at exit"},
     &Config::pid_file,
     nullptr},
    {{"tls_cert", S::kServer, T::kString, false, "", 0, kAny, nullptr, "a PEM file path",
      "tls listeners: the PEM certificate chain, leaf first"},
     &Config::tls_cert,
     nullptr},
    {{"tls_key", S::kServer, T::kString, false, "", 0, kAny, nullptr, "a PEM file path",
      "tls listeners: the PEM private key of the certificate"},
     &Config::tls_key,
     nullptr},
    {{"tls_protocols", S::kServer, T::kString, false, "TLSv1.2 TLSv1.3", 0, kAny, nullptr, nullptr,
      "tls listeners: the TLS versions offered, TLSv1.2 and/or TLSv1.3"},
     &Config::tls_protocols,
     check_tls_protocols},
    {{"tls_ciphers", S::kServer, T::kString, false, kDefaultTlsCiphers, 1, kAny, nullptr,
      "an OpenSSL cipher list", "tls listeners: the TLS 1.2 cipher suites, in order of preference"},
     &Config::tls_ciphers,
     check_tls_ciphers},
    {{"tls_client_ca", S::kServer, T::kString, false, "", 0, kAny, nullptr, "a PEM file path",
      "tls listeners: the CAs whose client certificates are accepted"},
     &Config::tls_client_ca,
     check_tls_ca},
    {{"tls_verify_client", S::kServer, T::kEnum, false, "off", 0, kAny, "off|optional|require",
      nullptr, "tls listeners: ask clients for a certificate, and whether one is required"},
     &Config::tls_verify_client,
     nullptr},
    {{"tls_session_tickets", S::kServer, T::kSwitch, false, "on", 0, kAny, nullptr, nullptr,
      "tls listeners: let clients resume TLS sessions with tickets"},
     &Config::tls_session_tickets,
     nullptr},
    {{"tls_ticket_rotation", S::kServer, T::kDuration, false, "1h", 1000, 86400000, nullptr,
      nullptr, "tls listeners: how often the session ticket key is replaced"},
     &Config::tls_ticket_rotation_ms,
     nullptr},
    {{"max_connections_per_ip", S::kServer, T::kNumber, false, "0", 0, 10000000, nullptr, nullptr,
      "the most connections open at once from one client address (IPv6: one prefix); 0: any"},
     &Config::max_connections_per_ip,
     nullptr},
    {{"handshake_rate_per_ip", S::kServer, T::kString, false, "0", 1, kAny, nullptr,
      "N/s, N/m, N/h or 0",
      "opening handshakes allowed per client address, e.g. 10/s or 300/m; 0: any"},
     &Config::handshake_rate_per_ip,
     check_rate},
    {{"handshake_burst_per_ip", S::kServer, T::kNumber, false, "0", 0, 10000000, nullptr, nullptr,
      "handshakes a client address may make at once before handshake_rate_per_ip applies; 0: "
      "the rate per second rounded up, at least 1"},
     &Config::handshake_burst_per_ip,
     nullptr},
    {{"per_ip_ipv6_prefix", S::kServer, T::kNumber, false, "64", 1, 128, nullptr, nullptr,
      "per-client limits count IPv6 clients by this many leading bits of their address"},
     &Config::per_ip_ipv6_prefix,
     nullptr},
    {{"per_ip_table_size", S::kServer, T::kNumber, false, "16384", 8, 16777216, nullptr, nullptr,
      "client addresses the per-client limits track at once, 32 bytes each"},
     &Config::per_ip_table_size,
     nullptr},
    {{"proxy_protocol_timeout", S::kServer, T::kDuration, false, "5s", 1, kAny, nullptr, nullptr,
      "proxy listeners: time allowed for the PROXY protocol header"},
     &Config::proxy_protocol_timeout_ms,
     nullptr},
    {{"trusted_proxies", S::kServer, T::kList, true, "", 0, kAny, nullptr, nullptr,
      "forwarded routes: peers (addresses or networks) whose X-Forwarded-For and Forwarded are "
      "extended rather than replaced; repeat the key for more"},
     &Config::trusted_proxies,
     check_trusted_proxy},
    {{"handshake_timeout", S::kBoth, T::kDuration, false, "10s", 1, kAny, nullptr, nullptr,
      "time allowed for the opening handshake, the backend's part included"},
     &Limits::handshake_timeout_ms,
     nullptr},
    {{"idle_timeout", S::kBoth, T::kDuration, false, "0", 0, kAny, nullptr, nullptr,
      "close a connection with no traffic either way for this long; 0: never"},
     &Limits::idle_timeout_ms,
     nullptr},
    {{"ping_interval", S::kBoth, T::kDuration, false, "0", 0, kAny, nullptr, nullptr,
      "ping the client this often; 0: never"},
     &Limits::ping_interval_ms,
     nullptr},
    {{"max_message_size", S::kBoth, T::kSize, false, "16M", 1, uint64_t{1} << 40, nullptr, nullptr,
      "the largest message a client (in proxy mode, the backend too) may send"},
     &Limits::max_message_size,
     nullptr},
    {{"connect_timeout", S::kBoth, T::kDuration, false, "5s", 1, kAny, nullptr, nullptr,
      "time allowed to connect to a backend, the TLS handshake included"},
     &Limits::connect_timeout_ms,
     nullptr},
    {{"frame_timeout", S::kBoth, T::kDuration, false, "1m", 0, kAny, nullptr, nullptr,
      "time a client frame may take from its first byte to its last; 0: no limit"},
     &Limits::frame_timeout_ms,
     nullptr},
    {{"path", S::kRoute, T::kString, false, nullptr, 0, kAny, nullptr, nullptr,
      "the request paths the route serves: /exact, /prefix/* or ~ REGEX (required)"},
     &RouteConfig::path,
     check_path},
    {{"backend", S::kRoute, T::kBackend, false, nullptr, 0, kAny, nullptr, nullptr,
      "where clients go: tcp://HOST:PORT, tls://HOST:PORT, unix:/PATH, "
      "ws[s]://HOST[:PORT][/PATH] or echo (required)"},
     &RouteConfig::backend,
     nullptr},
    {{"type", S::kRoute, T::kEnum, false, "binary", 0, kAny, "text|binary", nullptr,
      "what the backend sends, and so the frames a bridged client gets"},
     &RouteConfig::type,
     nullptr},
    {{"protocols", S::kRoute, T::kList, false, "", 0, kAny, nullptr, nullptr,
      "the subprotocols the route accepts; the client's first match wins"},
     &RouteConfig::protocols,
     check_protocol},
    {{"origins", S::kRoute, T::kList, true, "", 0, kAny, nullptr, nullptr,
      "the Origin values allowed, SCHEME://HOST[:PORT] with *. for subdomains; repeat the key "
      "for more; empty: any"},
     &RouteConfig::origins,
     check_origin},
    {{"forwarded", S::kRoute, T::kSwitch, false, "off", 0, kAny, nullptr, nullptr,
      "ws:// and wss:// routes: tell the backend the client's address"},
     &RouteConfig::forwarded,
     nullptr},
    {{"tls_verify", S::kRoute, T::kSwitch, false, "on", 0, kAny, nullptr, nullptr,
      "tls:// and wss:// routes: check the backend's certificate and host name"},
     &RouteConfig::tls_verify,
     nullptr},
    {{"tls_ca", S::kRoute, T::kString, false, "", 0, kAny, nullptr, nullptr,
      "tls:// and wss:// routes: a PEM file of CAs to trust instead of the system's"},
     &RouteConfig::tls_ca,
     check_tls_ca},
    {{"tls_client_cert", S::kRoute, T::kString, false, "", 0, kAny, nullptr, "a PEM file path",
      "tls:// and wss:// routes: the PEM certificate chain wsgate shows the backend"},
     &RouteConfig::tls_client_cert,
     nullptr},
    {{"tls_client_key", S::kRoute, T::kString, false, "", 0, kAny, nullptr, "a PEM file path",
      "tls:// and wss:// routes: the PEM private key of tls_client_cert"},
     &RouteConfig::tls_client_key,
     nullptr},
    {{"proxy_protocol", S::kRoute, T::kEnum, false, "off", 0, kAny, "off|v1|v2", nullptr,
      "send the backend a PROXY protocol header (v1 text, v2 binary with TLS TLVs) first"},
     &RouteConfig::proxy_protocol,
     nullptr},
    {{"names", S::kTls, T::kList, false, nullptr, 0, kAny, nullptr, nullptr,
      "[tls] sections: the SNI names the certificate serves, *.DOMAIN for one label (required)"},
     &TlsSiteConfig::names,
     check_tls_name},
    {{"cert", S::kTls, T::kString, false, nullptr, 1, kAny, nullptr, "a PEM file path",
      "[tls] sections: the PEM certificate chain, leaf first (required)"},
     &TlsSiteConfig::cert,
     nullptr},
    {{"key", S::kTls, T::kString, false, nullptr, 1, kAny, nullptr, "a PEM file path",
      "[tls] sections: the PEM private key of the certificate (required)"},
     &TlsSiteConfig::key,
     nullptr},
    {{"listen", S::kMetrics, T::kAddress, false, "", 0, kAny, nullptr, nullptr,
      "[metrics]: the address /metrics and /healthz are served on; unset: none"},
     &Config::metrics_listen,
     check_plain_listen},
};

// ---- Row members ----

// The row's member of type T (const T to read) in this config and route, or null when the
// row's member is of another type or belongs to a route and there is none.
template <typename T, typename C, typename R, typename S = const TlsSiteConfig>
T* member(const Field& f, C* config, R* route, S* site = nullptr) {
  using U = std::remove_const_t<T>;
  return std::visit(
      [&](auto m) -> T* {
        using M = decltype(m);
        if constexpr (std::is_same_v<M, U Limits::*>)
          return route ? &(route->limits.*m) : &(config->limits.*m);
        else if constexpr (std::is_same_v<M, U Config::*>)
          return &(config->*m);
        else if constexpr (std::is_same_v<M, U RouteConfig::*>)
          return route ? &(route->*m) : nullptr;
        else if constexpr (std::is_same_v<M, U TlsSiteConfig::*>)
          return site ? &(site->*m) : nullptr;
        else
          return nullptr;
      },
      f);
}

// The row's member in the section being parsed.
template <typename T>
T* target(const Option& o, Section& s) {
  return member<T>(o.field, s.config, s.route, s.site);
}

// A row whose member does not fit its type is a bug in the table; config_test.cc walks them.
bool no_member(const Option& o, std::string& err) {
  err = std::string("key ") + o.info.name + " has no member of type " +
        config_type_name(o.info.type) + " (a bug in the key table)";
  return false;
}

// The enum words of a row, in the enum's order.
std::vector<std::string> enum_words(const Option& o) {
  std::vector<std::string> words;
  std::string w;
  for (const char* c = o.info.choices; c && *c; c++) {
    if (*c == '|') {
      words.push_back(w);
      w.clear();
    } else {
      w += *c;
    }
  }
  words.push_back(w);
  return words;
}

// "a, b or c", for "write ..." in error messages.
std::string or_list(const std::vector<std::string>& words) {
  std::string s;
  for (size_t i = 0; i < words.size(); i++)
    s += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return s;
}

// ---- One parser per type ----

// Stores a checked number in the row's integer member, whatever its width.
bool store_number(const Option& o, Section& s, uint64_t n, std::string& err) {
  if (uint64_t* f = target<uint64_t>(o, s))
    *f = n;
  else if (int* i = target<int>(o, s))
    *i = static_cast<int>(n);
  else
    return no_member(o, err);
  return true;
}

// kDuration: "10s"; a value out of range names the key.
bool set_duration(const Option& o, Section& s, const std::string& v, std::string& err) {
  uint64_t ms;
  if (!parse_duration(v, ms)) {
    err =
        "bad duration \"" + v + "\"; write a number with ms, s, m or h (a bare number is seconds)";
    return false;
  }
  if (ms < o.info.min) {
    err = std::string(o.info.name) + (o.info.min == 1
                                          ? " must be more than 0"
                                          : " must be at least " + format_duration(o.info.min));
    return false;
  }
  if (o.info.max != kAny && ms > o.info.max) {
    err = std::string(o.info.name) + " must be at most " + format_duration(o.info.max);
    return false;
  }
  return store_number(o, s, ms, err);
}

// kSize: "16M", within the row's range.
bool set_size(const Option& o, Section& s, const std::string& v, std::string& err) {
  uint64_t n;
  if (!parse_size(v, n) || n < o.info.min || (o.info.max != kAny && n > o.info.max)) {
    err = "bad size \"" + v + "\"; write a number of bytes from " + format_size(o.info.min) +
          (o.info.max != kAny ? " to " + format_size(o.info.max) : "") +
          ", with k, M or G if wanted";
    return false;
  }
  return store_number(o, s, n, err);
}

// kNumber: a plain whole number within the row's range (or the hint's word, which the
// key's check has turned into one).
bool set_number(const Option& o, Section& s, const std::string& v, std::string& err) {
  uint64_t n;
  std::string rest;
  if (!parse_number(v, n, rest) || !rest.empty() || n < o.info.min ||
      (o.info.max != kAny && n > o.info.max)) {
    std::string min = std::to_string(o.info.min), max = std::to_string(o.info.max);
    err = std::string("bad ") + o.info.name + " \"" + v + "\"; write a number " +
          (o.info.max != kAny ? "from " + min + " to " + max : "of at least " + min) +
          (o.info.hint ? std::string(", or ") + o.info.hint : "");
    return false;
  }
  return store_number(o, s, n, err);
}

// kSwitch: on or off.
bool set_switch(const Option& o, Section& s, const std::string& v, std::string& err) {
  if (v != "on" && v != "off") {
    err = std::string("bad ") + o.info.name + " \"" + v + "\"; write on or off";
    return false;
  }
  bool* f = target<bool>(o, s);
  if (!f) return no_member(o, err);
  *f = v == "on";
  return true;
}

// kEnum: one of the row's words; the enum value is the word's position.
bool set_enum(const Option& o, Section& s, const std::string& v, std::string& err) {
  std::vector<std::string> words = enum_words(o);
  auto it = std::find(words.begin(), words.end(), v);
  if (it == words.end()) {
    err = std::string("bad ") + o.info.name + " \"" + v + "\"; write " + or_list(words);
    return false;
  }
  int i = static_cast<int>(it - words.begin());
  if (LogLevel* level = target<LogLevel>(o, s))
    *level = static_cast<LogLevel>(i);
  else if (MessageType* type = target<MessageType>(o, s))
    *type = static_cast<MessageType>(i);
  else if (ClientVerify* verify = target<ClientVerify>(o, s))
    *verify = static_cast<ClientVerify>(i);
  else if (AccessLogFormat* format = target<AccessLogFormat>(o, s))
    *format = static_cast<AccessLogFormat>(i);
  else if (ProxyProtocol* pp = target<ProxyProtocol>(o, s))
    *pp = static_cast<ProxyProtocol>(i);
  else
    return no_member(o, err);
  return true;
}

// kString: any text at least `min` long.
bool set_string(const Option& o, Section& s, const std::string& v, std::string& err) {
  if (v.size() < o.info.min) {
    err = std::string(o.info.name) + " is empty; write " + (o.info.hint ? o.info.hint : "a value");
    return false;
  }
  std::string* f = target<std::string>(o, s);
  if (!f) return no_member(o, err);
  *f = v;
  return true;
}

// kList: comma-separated, each item passed through the key's check.
bool set_list(const Option& o, Section& s, const std::string& v, std::string& err) {
  std::vector<std::string>* f = target<std::vector<std::string>>(o, s);
  if (!f) return no_member(o, err);
  std::vector<std::string> items = split_list(v);
  for (std::string& item : items)
    if (o.check && !o.check(item, err)) return false;
  // A repeatable list grows with each line, so that a long one needs no long line.
  if (!o.info.repeatable) f->clear();
  f->insert(f->end(), items.begin(), items.end());
  return true;
}

// kAddress: a numeric IP and a port, then optionally "tls"; not given twice; a repeatable key
// adds one more.
bool set_address(const Option& o, Section& s, const std::string& value, std::string& err) {
  std::string v = value;
  bool tls = false, proxy = false;
  size_t blank = v.find_first_of(" \t");
  if (blank != std::string::npos) {
    std::istringstream words(v.substr(blank));
    for (std::string word; words >> word;) {
      bool* flag = word == "tls" ? &tls : word == "proxy" ? &proxy : nullptr;
      if (!flag || *flag) {
        err = std::string(flag ? "repeated" : "unknown") + " word \"" + word + "\" after the " +
              o.info.name +
              " address; the words allowed are tls and proxy, once each, e.g. 0.0.0.0:443 tls "
              "proxy";
        return false;
      }
      *flag = true;
    }
    v.resize(blank);
  }
  ListenAddr a;
  if (!parse_listen_address(v, a)) {
    err = std::string("bad ") + o.info.name + " address \"" + v +
          "\"; write IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:8080";
    return false;
  }
  std::vector<ListenAddr>* list = target<std::vector<ListenAddr>>(o, s);
  if (!list) return no_member(o, err);
  if (!o.info.repeatable) list->clear();
  for (const ListenAddr& other : *list)
    if (other.addrlen == a.addrlen && memcmp(&other.addr, &a.addr, a.addrlen) == 0) {
      err = std::string(o.info.name) + " address " + v + " is given twice; remove one";
      return false;
    }
  a.tls = tls;
  a.proxy = proxy;
  list->push_back(a);
  return true;
}

// kBackend: a target, which also marks the route as having one.
bool set_backend(const Option& o, Section& s, const std::string& v, std::string& err) {
  BackendAddr* b = target<BackendAddr>(o, s);
  if (!b) return no_member(o, err);
  if (!parse_backend(v, *b, err)) return false;
  if (s.route) s.route->has_backend = true;
  return true;
}

// Joins items as a list is written.
template <typename Items, typename Text>
std::string join(const Items& items, Text text) {
  std::string s;
  for (const auto& item : items) s += (s.empty() ? "" : ", ") + text(item);
  return s;
}

// A member's value written as the file would have it; false if the row has no such member.
bool format_option(const Option& o, const Config* c, const RouteConfig* r, std::string& out) {
  const Field& f = o.field;
  switch (o.info.type) {
    case T::kDuration:
    case T::kSize:
    case T::kNumber:
      if (const uint64_t* n = member<const uint64_t>(f, c, r))
        out = o.info.type == T::kDuration ? format_duration(*n)
              : o.info.type == T::kSize   ? format_size(*n)
                                          : std::to_string(*n);
      else if (const int* i = member<const int>(f, c, r))
        out = std::to_string(*i);
      else
        return false;
      return true;
    case T::kSwitch:
      if (const bool* b = member<const bool>(f, c, r)) return out = *b ? "on" : "off", true;
      return false;
    case T::kEnum: {
      int i = -1;
      if (const LogLevel* level = member<const LogLevel>(f, c, r)) i = static_cast<int>(*level);
      if (const MessageType* type = member<const MessageType>(f, c, r)) i = static_cast<int>(*type);
      if (const ClientVerify* v = member<const ClientVerify>(f, c, r)) i = static_cast<int>(*v);
      if (const AccessLogFormat* a = member<const AccessLogFormat>(f, c, r))
        i = static_cast<int>(*a);
      if (const ProxyProtocol* pp = member<const ProxyProtocol>(f, c, r)) i = static_cast<int>(*pp);
      std::vector<std::string> words = enum_words(o);
      if (i < 0 || i >= static_cast<int>(words.size())) return false;
      out = words[i];
      return true;
    }
    case T::kString:
      if (const std::string* s = member<const std::string>(f, c, r)) return out = *s, true;
      return false;
    case T::kList:
      if (const auto* l = member<const std::vector<std::string>>(f, c, r))
        return out = join(*l, [](const std::string& s) { return s; }), true;
      return false;
    case T::kAddress:
      if (const auto* l = member<const std::vector<ListenAddr>>(f, c, r))
        return out = join(*l,
                          [](const ListenAddr& a) {
                            return a.text + (a.tls ? " tls" : "") + (a.proxy ? " proxy" : "");
                          }),
               true;
      return false;
    case T::kBackend:
      if (const BackendAddr* b = member<const BackendAddr>(f, c, r)) return out = b->text, true;
      return false;
  }
  return false;
}

}  // namespace

// The driver in config.cc walks the rows; nothing else changes them.
const std::vector<Option>& option_table() {
  return kOptions;
}

// Keys are case-sensitive; a key outside its scope is unknown there.
const Option* find_option(const std::string& name, ConfigScope scope) {
  for (const Option& o : kOptions)
    if (name == o.info.name && in_scope(o, scope)) return &o;
  return nullptr;
}

// The key's check first (lists check per item), then its type's parser.
bool set_option(const Option& o, Section& s, const std::string& value, std::string& err) {
  std::string v = value;
  if (o.check && o.info.type != T::kList && !o.check(v, err)) return false;
  switch (o.info.type) {
    case T::kDuration:
      return set_duration(o, s, v, err);
    case T::kSize:
      return set_size(o, s, v, err);
    case T::kNumber:
      return set_number(o, s, v, err);
    case T::kSwitch:
      return set_switch(o, s, v, err);
    case T::kEnum:
      return set_enum(o, s, v, err);
    case T::kString:
      return set_string(o, s, v, err);
    case T::kList:
      return set_list(o, s, v, err);
    case T::kAddress:
      return set_address(o, s, v, err);
    case T::kBackend:
      return set_backend(o, s, v, err);
  }
  return no_member(o, err);
}

// Built once from the rows, without their members and checks.
const std::vector<OptionInfo>& config_options() {
  static const std::vector<OptionInfo> infos = [] {
    std::vector<OptionInfo> v;
    for (const Option& o : kOptions) v.push_back(o.info);
    return v;
  }();
  return infos;
}

// For docs and error messages.
const char* config_type_name(ConfigType type) {
  switch (type) {
    case T::kDuration:
      return "duration";
    case T::kSize:
      return "size";
    case T::kNumber:
      return "number";
    case T::kSwitch:
      return "switch";
    case T::kEnum:
      return "enum";
    case T::kString:
      return "string";
    case T::kList:
      return "list";
    case T::kAddress:
      return "address";
    case T::kBackend:
      return "backend";
  }
  return "?";
}

// Finds the row in any scope; the member decides whether route is needed.
bool config_option_value(const std::string& key, const Config& config, const RouteConfig* route,
                         std::string& out) {
  for (const Option& o : kOptions)
    if (key == o.info.name) return format_option(o, &config, route, out);
  return false;
}

// The first row of that name in the scope, as the parser would find it.
bool config_option_value(const std::string& key, ConfigScope scope, const Config& config,
                         const RouteConfig* route, std::string& out) {
  const Option* o = find_option(key, scope);
  return o && format_option(*o, &config, route, out);
}
