// The configuration: INI file -> typed Config, every key in one table in config.cc.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "log.h"

// Settings a route may override; [server] holds the defaults.
struct Limits {
  uint64_t handshake_timeout_ms = 10000;
  uint64_t idle_timeout_ms = 0;
  uint64_t ping_interval_ms = 0;
  uint64_t max_message_size = 16u << 20;
  uint64_t connect_timeout_ms = 5000;
};

struct ListenAddr {
  std::string text;
  sockaddr_storage addr;
  int addrlen = 0;
};

struct BackendAddr {
  enum class Kind { kEcho, kTcp, kUnix, kWs, kWss };
  Kind kind = Kind::kEcho;
  std::string text;  // as written, for logs
  std::string host;  // kTcp, kWs, kWss
  int port = 0;      // kTcp, kWs, kWss
  std::string path;  // kUnix: the socket; kWs, kWss: the URL path, empty for the client's
  bool websocket() const { return kind == Kind::kWs || kind == Kind::kWss; }
};

enum class MessageType { kText, kBinary };

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
  bool forwarded = false;  // ws:// routes: add X-Forwarded-* and Forwarded
  bool tls_verify = true;  // wss:// routes: check the certificate and host name
  std::string tls_ca;      // wss:// routes: CA file; empty for the system's
  Limits limits;
};

struct Config {
  std::string file;
  std::vector<ListenAddr> listen;
  int workers = 1;
  LogLevel log_level = LogLevel::kInfo;
  std::string error_log = "stderr";
  std::string access_log = "stderr";
  uint64_t max_connections = 10000;
  Limits limits;
  std::vector<RouteConfig> routes;
};

// Reads and checks a config file. Each error is "FILE:LINE: message"; false if any.
bool config_load(const std::string& path, Config& out, std::vector<std::string>& errors);
// Same, from text in memory; `name` stands in for the file name in errors.
bool config_parse(const std::string& text, const std::string& name, Config& out,
                  std::vector<std::string>& errors);

// "16M", "512k", "100" -> bytes.
bool parse_size(const std::string& s, uint64_t& out);
// "250ms", "10s", "5m", "1h", "30" (seconds) -> milliseconds.
bool parse_duration(const std::string& s, uint64_t& out_ms);
