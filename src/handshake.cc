#include "handshake.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <strings.h>

#include <algorithm>
#include <cctype>

#include <event2/buffer.h>

#include "http.h"

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != 0 &&
          std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos);
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// OpenSSL reads '=' anywhere as a zero digit, so the digits are checked here first.
bool is_base64_digits(std::string_view s) {
  for (unsigned char c : s)
    if (!isalnum(c) && c != '+' && c != '/') return false;
  return true;
}

// Calls f on each non-empty element of a comma-separated list; stops when f returns false.
template <typename F>
bool for_each_element(std::string_view list, F f) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty() && !f(item)) return false;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const HeaderField* find_header(const std::vector<HeaderField>& fields, std::string_view name) {
  for (const HeaderField& h : fields)
    if (iequals(h.name, name)) return &h;
  return nullptr;
}

const HeaderField* Request::find(std::string_view name) const {
  return find_header(headers, name);
}

size_t Request::count(std::string_view name) const {
  size_t n = 0;
  for (const HeaderField& h : headers) n += iequals(h.name, name);
  return n;
}

// Searches only the bytes a terminator could end in that the last call did not see, and only
// the first `cap` bytes: a head beyond them is refused whatever follows.
long find_request_head(evbuffer* in, size_t& scanned, size_t cap) {
  size_t len = evbuffer_get_length(in);
  size_t limit = std::min(len, cap);
  if (scanned > limit) scanned = 0;  // not this buffer's state: start over
  // The first `scanned` bytes hold no whole CRLFCRLF; one may end just past them.
  size_t from = scanned > 3 ? scanned - 3 : 0;
  evbuffer_ptr start, end;
  evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET);
  if (len > limit) evbuffer_ptr_set(in, &end, limit, EVBUFFER_PTR_SET);
  evbuffer_ptr at = evbuffer_search_range(in, "\r\n\r\n", 4, &start, len > limit ? &end : nullptr);
  if (at.pos >= 0) {
    scanned = static_cast<size_t>(at.pos) + 3;  // found again at once if called again
    return at.pos + 4;
  }
  scanned = limit;
  return len >= cap ? -1 : 0;
}

// The one-shot form, kept for callers without state.
long find_request_head(evbuffer* in) {
  size_t scanned = 0;
  return find_request_head(in, scanned);
}

int parse_fields(std::string_view rest, std::vector<HeaderField>& out, const char** why) {
  while (!rest.empty()) {
    size_t eol = rest.find("\r\n");
    if (eol == std::string_view::npos) {
      *why = "header block is not terminated";
      return http_status::kBadRequest;
    }
    std::string_view field = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    if (field.empty()) break;
    if (field[0] == ' ' || field[0] == '\t') {
      *why = "obsolete header line folding";
      return http_status::kBadRequest;
    }
    size_t colon = field.find(':');
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) {
      *why = "malformed header field";
      return http_status::kBadRequest;
    }
    std::string_view value = trim_ows(field.substr(colon + 1));
    for (unsigned char c : value)
      if ((c < 0x20 && c != '\t') || c == 0x7F) {
        *why = "control character in a header value";
        return http_status::kBadRequest;
      }
    if (out.size() == kMaxHeaderFields) {
      *why = "too many header fields";
      return http_status::kHeadersTooLarge;
    }
    out.push_back({field.substr(0, colon), value});
  }
  return 0;
}

bool valid_host(std::string_view host) {
  std::string_view name = host, port;
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : host.substr(1, close - 1))
      if (!isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return false;
    port = rest.empty() ? rest : rest.substr(1);
    name = {};
  } else {
    size_t colon = host.find(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      name = host.substr(0, colon);
      if (port.empty()) return false;
    }
    if (name.empty()) return false;
  }
  for (char c : name)  // RFC 3986 reg-name without percent-encoding, or an IPv4 address
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
  if (port.size() > 5) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return true;
}

int parse_request(std::string_view head, Request& req, const char** why) {
  req = Request();
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) {
    *why = "request line is not terminated";
    return http_status::kBadRequest;
  }
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    *why = "malformed request line";
    return http_status::kBadRequest;
  }
  req.method = line.substr(0, sp1);
  req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(req.method)) {
    *why = "malformed method";
    return http_status::kBadRequest;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    *why = "malformed HTTP version";
    return http_status::kBadRequest;
  }
  if (version[5] != '1' || version[7] < '1') {
    *why = "WebSocket needs HTTP/1.1";
    return http_status::kBadRequest;
  }
  req.version_minor = version[7] - '0';
  if (req.target.empty() || req.target[0] != '/') {
    *why = "request target must be an absolute path";
    return http_status::kBadRequest;
  }
  for (unsigned char c : req.target)
    if (c <= 0x20 || c >= 0x7F) {
      *why = "request target has a control or non-ASCII byte";
      return http_status::kBadRequest;
    }
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string_view::npos) req.query = req.target.substr(q + 1);

  int status = parse_fields(head.substr(eol + 2), req.headers, why);
  if (status) return status;
  if (req.count("Host") != 1) {
    *why = "exactly one Host header is required";
    return http_status::kBadRequest;
  }
  if (!valid_host(req.find("Host")->value)) {
    *why = "Host is not a host name or IP address with an optional port";
    return http_status::kBadRequest;
  }
  return 0;
}

bool has_token(std::string_view value, std::string_view token) {
  return !for_each_element(value, [&](std::string_view item) { return !iequals(item, token); });
}

int check_upgrade_fields(const Request& req, const char** why) {
  bool websocket = false, connection = false;
  for (const HeaderField& h : req.headers) {
    if (iequals(h.name, "Upgrade") && has_token(h.value, "websocket")) websocket = true;
    if (iequals(h.name, "Connection") && has_token(h.value, "upgrade")) connection = true;
  }
  if (!websocket) {
    *why = "this path serves WebSocket only; send an Upgrade: websocket request";
    return http_status::kUpgradeRequired;
  }
  if (!connection) {
    *why = "Connection header lacks the upgrade token";
    return http_status::kBadRequest;
  }
  return 0;
}

int check_upgrade(const Request& req, Upgrade& up, const char** why) {
  up = Upgrade();
  if (int status = check_upgrade_fields(req, why)) return status;
  const HeaderField* version = req.find("Sec-WebSocket-Version");
  if (!version) {
    *why = "missing Sec-WebSocket-Version";
    return http_status::kBadRequest;
  }
  if (req.count("Sec-WebSocket-Version") != 1 || version->value != "13") {
    *why = "unsupported WebSocket version; this server speaks 13";
    return http_status::kUpgradeRequired;
  }
  const HeaderField* key = req.find("Sec-WebSocket-Key");
  unsigned char raw[24];
  if (!key || req.count("Sec-WebSocket-Key") != 1 || key->value.size() != 24 ||
      key->value.substr(22) != "==" || !is_base64_digits(key->value.substr(0, 22)) ||
      EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(key->value.data()), 24) != 18) {
    *why = "Sec-WebSocket-Key must be 16 bytes in base64";
    return http_status::kBadRequest;
  }
  up.key = key->value;
  return parse_offer(req, up.origin, up.protocols, why);
}

int parse_offer(const Request& req, std::string_view& origin,
                std::vector<std::string_view>& protocols, const char** why) {
  if (req.count("Origin") > 1) {
    *why = "more than one Origin header";
    return http_status::kBadRequest;
  }
  if (const HeaderField* o = req.find("Origin")) origin = o->value;
  for (const HeaderField& h : req.headers) {
    if (!iequals(h.name, "Sec-WebSocket-Protocol")) continue;
    bool ok = for_each_element(h.value, [&](std::string_view p) {
      protocols.push_back(p);
      return is_token(p);
    });
    if (!ok) {
      *why = "malformed Sec-WebSocket-Protocol";
      return http_status::kBadRequest;
    }
  }
  return 0;
}

std::string websocket_accept(std::string_view key) {
  std::string s(key);
  s += kGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  unsigned char out[32];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), n);
}

void write_switching(evbuffer* out, std::string_view accept, std::string_view protocol,
                     std::string_view extensions, std::string_view fields) {
  evbuffer_add_printf(out,
                      "HTTP/1.1 101 Switching Protocols\r\n"
                      "Upgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %.*s\r\n",
                      static_cast<int>(accept.size()), accept.data());
  if (!protocol.empty())
    evbuffer_add_printf(out, "Sec-WebSocket-Protocol: %.*s\r\n", static_cast<int>(protocol.size()),
                        protocol.data());
  if (!extensions.empty())
    evbuffer_add_printf(out, "Sec-WebSocket-Extensions: %.*s\r\n",
                        static_cast<int>(extensions.size()), extensions.data());
  evbuffer_add(out, fields.data(), fields.size());
  evbuffer_add(out, "\r\n", 2);
}
