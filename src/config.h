// The configuration: INI file -> typed Config. Every key is one row of the table in
// config_table.cc; config.cc reads the file and checks it as a whole.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "log.h"

// Settings a route may override; [server] holds the defaults.
struct Limits {
  uint64_t handshake_timeout_ms = 10000;
  uint64_t idle_timeout_ms = 0;
  uint64_t ping_interval_ms = 0;
  uint64_t max_message_size = 16u << 20;
  uint64_t connect_timeout_ms = 5000;
  uint64_t frame_timeout_ms = 60000;  // a client frame's first byte to its last; 0: no limit
};

struct ListenAddr {
  std::string text;  // the address as written, without " tls" or " proxy"
  sockaddr_storage addr;
  int addrlen = 0;
  bool tls = false;    // clients speak TLS here (tls_cert, tls_key)
  bool proxy = false;  // a PROXY protocol header comes first (proxy_protocol_timeout)
  int line = 0;        // of the listen key, for errors; 0 for the default
};

struct BackendAddr {
  enum class Kind { kEcho, kTcp, kUnix, kWs, kWss, kTls };
  Kind kind = Kind::kEcho;
  std::string text;  // as written, for logs
  std::string host;  // kTcp, kWs, kWss, kTls
  int port = 0;      // kTcp, kWs, kWss, kTls
  std::string path;  // kUnix: the socket; kWs, kWss: the URL path, empty for the client's
  bool websocket() const { return kind == Kind::kWs || kind == Kind::kWss; }
  // The backend connection speaks TLS: wss://, and tls:// bridges.
  bool tls() const { return kind == Kind::kWss || kind == Kind::kTls; }
  // Bridge mode: the backend takes a byte stream.
  bool bridge() const { return kind == Kind::kTcp || kind == Kind::kUnix || kind == Kind::kTls; }
};

enum class MessageType { kText, kBinary };

// access_log_format: a line of fields, or one JSON object per line.
enum class AccessLogFormat { kText, kJson };

// tls_verify_client: whether clients on tls listeners are asked for a certificate.
enum class ClientVerify { kOff, kOptional, kRequire };

// proxy_protocol: the PROXY header a route sends first to its backend, if any.
enum class ProxyProtocol { kOff, kV1, kV2 };

// The TLS 1.2 cipher list by default: forward secrecy and AEAD only (Mozilla's "intermediate"
// without DHE, which needs parameters of its own).
constexpr char kDefaultTlsCiphers[] = "ECDHE+AESGCM:ECDHE+CHACHA20";
// Mozilla's intermediate order: AES-128 first, as browsers offer it; its SHA-256 key schedule
// costs a handshake less than AES-256's SHA-384 (OpenSSL's own first choice).
constexpr char kDefaultTlsCiphersuites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// A [tls NAME] section: one more certificate for the tls listeners, picked by SNI.
struct TlsSiteConfig {
  std::string name;
  int line = 0;                    // of the [tls] header
  std::vector<std::string> names;  // lower case; "*.example.com" matches one more label
  std::string cert;
  std::string key;
};

struct RouteConfig {
  std::string name;
  int line = 0;  // of the [route] header, for errors about the whole section
  std::string path;
  int path_line = 0;
  BackendAddr backend;
  bool has_backend = false;
  MessageType type = MessageType::kBinary;
  std::vector<std::string> protocols;
  std::vector<std::string> origins;
  bool forwarded = false;       // ws:// routes: add X-Forwarded-* and Forwarded
  bool tls_verify = true;       // tls:// and wss:// routes: check the certificate and host name
  std::string tls_ca;           // tls:// and wss:// routes: CA file; empty for the system's
  std::string tls_client_cert;  // tls:// and wss:// routes: PEM chain shown to the backend
  std::string tls_client_key;   // its private key; set with tls_client_cert or not at all
  ProxyProtocol proxy_protocol = ProxyProtocol::kOff;  // a PROXY header before anything else
  Limits limits;
};

struct Config {
  std::string file;
  std::vector<ListenAddr> listen;
  int workers = 1;
  LogLevel log_level = LogLevel::kInfo;
  std::string error_log = "stderr";
  std::string access_log = "stderr";
  AccessLogFormat access_log_format = AccessLogFormat::kText;
  uint64_t max_connections = 10000;
  uint64_t shutdown_timeout_ms = 30000;
  uint64_t shutdown_grace_ms = 0;  // serving on, /healthz 503, before the stop
  std::string user;                // after binding, switch to this account; empty: stay
  std::string group;               // and this group; empty: the user's own
  std::string pid_file;            // written after binding, removed at exit; empty: none
  std::string tls_cert;            // PEM chain, leaf first, for tls listeners
  std::string tls_key;             // PEM private key of the leaf
  int tls_line = 0;                // of tls_cert (or tls_key), for errors about the pair
  std::string tls_protocols = "TLSv1.2 TLSv1.3";  // one or both, in this form
  std::string tls_ciphers = kDefaultTlsCiphers;
  std::string tls_ciphersuites = kDefaultTlsCiphersuites;
  std::string tls_client_ca;  // CAs whose client certificates are accepted
  ClientVerify tls_verify_client = ClientVerify::kOff;
  bool tls_session_tickets = true;
  uint64_t tls_ticket_rotation_ms = 3600000;
  int tls_tickets_per_handshake = 1;
  uint64_t proxy_protocol_timeout_ms = 5000;  // proxy listeners: for the header
  std::vector<TlsSiteConfig> tls_sites;
  std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-For is extended
  std::vector<ListenAddr> metrics_listen;  // [metrics]: where /metrics and /healthz are; empty: off
  // Per-client limits (client_limits.h); 0: off.
  uint64_t max_connections_per_ip = 0;
  std::string handshake_rate_per_ip = "0";  // "10/s", "300/m", "2/h" or "0"
  uint64_t handshake_burst_per_ip = 0;      // 0: the per-second rate rounded up, at least 1
  int per_ip_ipv6_prefix = 64;
  uint64_t per_ip_table_size = 16384;
  std::vector<std::pair<std::string, int>> key_lines;  // [server] keys as set, with lines
  // The line a [server] key was set on; 0 if it was not.
  int line_of(const std::string& key) const {
    for (const auto& [k, line] : key_lines)
      if (k == key) return line;
    return 0;
  }
  Limits limits;
  std::vector<RouteConfig> routes;
};

// Where a key may be set: bits, so that kBoth & kRoute is true.
enum class ConfigScope { kServer = 1, kRoute = 2, kBoth = 3, kTls = 4, kMetrics = 8 };

// How a value is written; each type has one parser.
enum class ConfigType {
  kDuration,  // 250ms, 10s, 5m, 1h; a bare number is seconds
  kSize,      // bytes, with k, M or G
  kNumber,    // a whole number
  kSwitch,    // on or off
  kEnum,      // one word of `choices`
  kString,    // any text
  kList,      // comma-separated items
  kAddress,   // IPv4:PORT or [IPv6]:PORT, optionally followed by tls and/or proxy
  kBackend,   // tcp://, tls://, unix:, ws://, wss:// or echo
};

// One key of the table, as tests and docs see it.
struct OptionInfo {
  const char* name;
  ConfigScope scope;
  ConfigType type;
  bool repeatable;
  const char* default_text;  // as it would be written in the file; nullptr: none (required)
  uint64_t min, max;         // numbers in their unit (ms, bytes), strings in length; 0, 0: any
  const char* choices;       // kEnum: the words, "|"-separated, in the enum's order
  const char* hint;          // what else a value may be, for error messages
  const char* doc;           // one line
};

// Every key wsgate knows, in the order errors list them.
const std::vector<OptionInfo>& config_options();
// The name of a type as docs write it: "duration", "size" ...
const char* config_type_name(ConfigType type);
// The value of `key` in a parsed config (route keys from `route`), written as the file would
// have it; false if there is no such key.
bool config_option_value(const std::string& key, const Config& config, const RouteConfig* route,
                         std::string& out);
// Same for the row of `key` that `scope` allows, where a name is a key of two sections
// ([server] and [metrics] both have listen).
bool config_option_value(const std::string& key, ConfigScope scope, const Config& config,
                         const RouteConfig* route, std::string& out);

// Reads and checks a config file. Each error is "FILE:LINE: message"; false if any.
bool config_load(const std::string& path, Config& out, std::vector<std::string>& errors);
// Same, from text in memory; `name` stands in for the file name in errors.
bool config_parse(const std::string& text, const std::string& name, Config& out,
                  std::vector<std::string>& errors);

// "16M", "512k", "100" -> bytes.
bool parse_size(const std::string& s, uint64_t& out);
// "250ms", "10s", "5m", "1h", "30" (seconds) -> milliseconds.
bool parse_duration(const std::string& s, uint64_t& out_ms);
