// The HTTP/1.1 upgrade request (RFC 6455 section 4): parsing, checks and the 101 answer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

struct evbuffer;

constexpr size_t kMaxRequestHead = 8192;
constexpr size_t kMaxHeaderFields = 100;

struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// Views into the request head; valid while the head's bytes are.
struct Request {
  std::string_view method;
  std::string_view target;
  std::string_view path;   // target before '?'
  std::string_view query;  // after '?', without it
  int version_minor = 0;   // HTTP/1.x
  std::vector<HeaderField> headers;

  // The first field with this name (any case), or null.
  const HeaderField* find(std::string_view name) const;
  size_t count(std::string_view name) const;
};

// What a valid RFC 6455 upgrade request asks for.
struct Upgrade {
  std::string_view key;
  std::string_view origin;
  std::vector<std::string_view> protocols;  // the client's offer, in its order
};

// ASCII case-insensitive equality, as HTTP compares field names and tokens.
bool iequals(std::string_view a, std::string_view b);
// Without leading and trailing spaces and tabs (RFC 7230's OWS).
std::string_view trim_ows(std::string_view s);
// The first field with this name (any case), or null.
const HeaderField* find_header(const std::vector<HeaderField>& fields, std::string_view name);
// Parses header lines up to the blank line. Returns 0, or 400/431 and `why`.
int parse_fields(std::string_view lines, std::vector<HeaderField>& out, const char** why);
// Length of the request head in `in` including the blank line; 0 if incomplete, -1 if over the
// cap. `scanned` is the caller's state between reads of one buffer: the search resumes where the
// last one stopped, so a head trickled in byte by byte costs linear time. Start it at 0, and
// set it to 0 again whenever bytes are drained from the front of `in`.
long find_request_head(evbuffer* in, size_t& scanned, size_t cap = kMaxRequestHead);
// The same from byte 0 every time: for one-shot callers.
long find_request_head(evbuffer* in);
// A Host value as RFC 3986 allows it here: a name or IPv4 address, or [IPv6], then maybe
// :PORT.
bool valid_host(std::string_view host);
// Parses the request line and header fields. Returns 0, or an HTTP status and `why`.
int parse_request(std::string_view head, Request& req, const char** why);
// Checks Upgrade: websocket and Connection: upgrade, which every version needs. Returns 0, or
// 426/400 and `why`.
int check_upgrade_fields(const Request& req, const char** why);
// Checks the upgrade fields (section 4.2.1). Returns 0, or 400/426 and `why`.
int check_upgrade(const Request& req, Upgrade& up, const char** why);
// Reads the fields both protocol versions share: at most one Origin, and the
// Sec-WebSocket-Protocol offer in the client's order. Returns 0, or 400 and `why`.
int parse_offer(const Request& req, std::string_view& origin,
                std::vector<std::string_view>& protocols, const char** why);
// True if a comma-separated field value holds `token`, compared in any case.
bool has_token(std::string_view value, std::string_view token);
// Sec-WebSocket-Accept for a client's key.
std::string websocket_accept(std::string_view key);
// The 101 response; `protocol` and `extensions` are omitted when empty. `fields` holds more
// header lines, each ending in CRLF.
void write_switching(evbuffer* out, std::string_view accept, std::string_view protocol,
                     std::string_view extensions = {}, std::string_view fields = {});
