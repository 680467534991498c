// The access log's line for one finished connection, as text or JSON. Every value that came
// from the network is escaped, so no client can end a line or a field early.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config.h"

// Who closed a connection first, for the access log.
enum class Closer { kNone, kClient, kBackend, kGateway };

// What the line says; empty views are written as "-" (text) or null (JSON).
struct AccessEntry {
  std::string_view client;  // ADDR:PORT
  std::string_view target;  // path and query as requested
  std::string_view route;
  std::string_view backend;
  std::string_view origin;
  std::string_view protocol;    // the subprotocol agreed
  std::string_view extensions;  // the extensions agreed
  int status = 0;
  uint64_t duration_ms = 0;
  uint64_t bytes_in = 0, bytes_out = 0;  // of the client's socket
  uint64_t msgs_in = 0, msgs_out = 0;    // data messages from and to the client
  uint16_t close_code = 0;
  std::string_view close_reason;
  Closer closed_by = Closer::kNone;
  bool tls = false;
  std::string_view tls_version;
  std::string_view sni;
};

// The text line, without the time (the log adds it, except for syslog).
std::string access_line_text(const AccessEntry& e);
// One JSON object on one line; `time` is the local time, ISO 8601 with milliseconds.
std::string access_line_json(const AccessEntry& e, std::string_view time);
// Bytes made safe inside a JSON string: quotes, backslashes and control characters escaped,
// and bytes that are not UTF-8 written as \u00XX, so that the line is always valid JSON.
std::string json_escape(std::string_view s);
// "client", "backend", "wsgate" or "-".
const char* closer_name(Closer c);
