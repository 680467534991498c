// Every config key as one row (name, scope, type, member, default, range, doc, check), and
// the lookups over them; config_set.cc reads values into the rows' members.
#include "config_table.h"

#include "client_limits.h"
#include "config_checks.h"
#include "config_values.h"
#include "privileges.h"

namespace {

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
    {{"tls_ciphersuites", S::kServer, T::kString, false, kDefaultTlsCiphersuites, 1, kAny, nullptr,
      "TLS 1.3 suite names", "tls listeners: the TLS 1.3 cipher suites, in order of preference"},
     &Config::tls_ciphersuites,
     check_tls_ciphersuites},
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
    {{"tls_tickets_per_handshake", S::kServer, T::kNumber, false, "1", 1, 8, nullptr, nullptr,
      "tls listeners: TLS 1.3 session tickets sent after a full handshake"},
     &Config::tls_tickets_per_handshake,
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
