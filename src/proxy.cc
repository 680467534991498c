#include "proxy.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <strings.h>

#include <event2/buffer.h>

#include "cidr.h"
#include "http.h"
#include "transport.h"

namespace {

// Splits a comma-separated field value into trimmed, non-empty elements.
std::vector<std::string_view> elements(std::string_view list) {
  std::vector<std::string_view> out;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

bool is_deflate(std::string_view extension) {
  return iequals(trim_ows(extension.substr(0, extension.find(';'))), "permessage-deflate");
}

// Fields that end at this hop (RFC 7230 section 6.1), including any named in Connection.
bool is_hop_by_hop(std::string_view name, const std::vector<HeaderField>& fields) {
  static const char* const kHopByHop[] = {
      "Connection", "Keep-Alive", "Proxy-Connection",    "TE",
      "Trailer",    "Upgrade",    "Proxy-Authorization", "Proxy-Authenticate"};
  for (const char* h : kHopByHop)
    if (iequals(name, h)) return true;
  for (const HeaderField& h : fields)
    if (iequals(h.name, "Connection") && has_token(h.value, name)) return true;
  return false;
}

bool is_websocket_field(std::string_view name) {
  return name.size() > 14 && iequals(name.substr(0, 14), "Sec-WebSocket-");
}

// Fields of the client's request that wsgate writes itself or that end here.
bool is_rebuilt(std::string_view name, const Request& req, bool forwarded) {
  if (is_hop_by_hop(name, req.headers) || is_websocket_field(name) || iequals(name, "Host") ||
      iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
      (name.size() >= 13 && iequals(name.substr(0, 13), "X-SSL-Client-")))
    return true;
  // A field with "_" could pose as one of these behind a server that maps "_" to "-" (CGI,
  // nginx's underscores_in_headers), so, as nginx does by default, none goes on.
  if (name.find('_') != std::string_view::npos) return true;
  static const char* const kIdentity[] = {
      "X-Forwarded-For",     "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded",
      "X-Real-IP",           "True-Client-IP",    "X-Client-IP",      "Client-IP",
      "X-Cluster-Client-IP", "X-Forwarded-Port"};
  if (forwarded)
    for (const char* h : kIdentity)
      if (iequals(name, h)) return true;
  return false;
}

// Joins every value of a repeatable field with ", " (RFC 7230 section 3.2.2).
std::string joined(const Request& req, std::string_view name) {
  std::string out;
  for (const HeaderField& h : req.headers)
    if (iequals(h.name, name) && !h.value.empty()) {
      if (!out.empty()) out += ", ";
      out.append(h.value.data(), h.value.size());
    }
  return out;
}

// An RFC 7230 quoted-string: a client's Host cannot break out of it into other parameters.
std::string quoted(std::string_view s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

void add_field(evbuffer* out, std::string_view name, std::string_view value) {
  evbuffer_add(out, name.data(), name.size());
  evbuffer_add(out, ": ", 2);
  evbuffer_add(out, value.data(), value.size());
  evbuffer_add(out, "\r\n", 2);
}

}  // namespace

std::string backend_target(const Request& req, const BackendAddr& backend) {
  if (backend.path.empty() || backend.path == "/") {
    // The (normalized) path, then the client's query byte for byte, from its '?' on.
    std::string t(req.path);
    size_t q = req.target.find('?');
    if (q != std::string_view::npos) t.append(req.target.substr(q));
    return t;
  }
  std::string t = backend.path;
  if (!req.query.empty()) t.append("?").append(req.query.data(), req.query.size());
  return t;
}

std::string backend_host(const BackendAddr& backend) {
  bool v6 = backend.host.find(':') != std::string::npos;
  std::string h = v6 ? "[" + backend.host + "]" : backend.host;
  int default_port = backend.kind == BackendAddr::Kind::kWss ? 443 : 80;
  if (backend.port != default_port) h += ":" + std::to_string(backend.port);
  return h;
}

std::string deflate_offers(const Request& req) {
  std::string out, offers = joined(req, "Sec-WebSocket-Extensions");
  for (std::string_view e : elements(offers))
    if (is_deflate(e)) {
      if (!out.empty()) out += ", ";
      out.append(e.data(), e.size());
    }
  return out;
}

void write_backend_request(evbuffer* out, const Request& req, const BackendAddr& backend,
                           std::string_view key, std::string_view protocols,
                           const ClientInfo& client, bool forwarded) {
  std::string target = backend_target(req, backend);
  evbuffer_add_printf(out, "GET %s HTTP/1.1\r\n", target.c_str());
  add_field(out, "Host", backend_host(backend));
  add_field(out, "Upgrade", "websocket");
  add_field(out, "Connection", "Upgrade");
  add_field(out, "Sec-WebSocket-Key", key);
  add_field(out, "Sec-WebSocket-Version", "13");
  if (!protocols.empty()) add_field(out, "Sec-WebSocket-Protocol", protocols);
  std::string deflate = deflate_offers(req);
  if (!deflate.empty()) add_field(out, "Sec-WebSocket-Extensions", deflate);
  for (const HeaderField& h : req.headers)
    if (!is_rebuilt(h.name, req, forwarded)) add_field(out, h.name, h.value);
  if (client.cert_checked) {
    add_field(out, "X-SSL-Client-Verify", client.cert ? "SUCCESS" : "NONE");
    if (client.cert) {
      add_field(out, "X-SSL-Client-DN", client.cert->subject);
      add_field(out, "X-SSL-Client-SHA256", client.cert->sha256);
    }
  }
  if (!forwarded) {
    evbuffer_add(out, "\r\n", 2);
    return;
  }
  // Only a trusted proxy's chain is worth extending; anyone else may have made it up.
  std::string xff = client.trusted ? joined(req, "X-Forwarded-For") : std::string();
  std::string real = client.trusted && client.proxies
                         ? real_client_ip(*client.proxies, xff, client.ip)
                         : std::string(client.ip);
  if (!xff.empty()) xff += ", ";
  xff.append(client.ip.data(), client.ip.size());
  add_field(out, "X-Forwarded-For", xff);
  add_field(out, "X-Real-IP", real);
  const char* proto = client.tls ? "https" : "http";
  std::string_view host = req.find("Host") ? req.find("Host")->value : std::string_view();
  // What the first proxy saw (the client's scheme, host and port) is kept from a trusted one.
  const HeaderField* theirs = client.trusted ? req.find("X-Forwarded-Proto") : nullptr;
  add_field(out, "X-Forwarded-Proto", theirs ? theirs->value : proto);
  theirs = client.trusted ? req.find("X-Forwarded-Host") : nullptr;
  add_field(out, "X-Forwarded-Host", theirs ? theirs->value : host);
  theirs = client.trusted ? req.find("X-Forwarded-Port") : nullptr;
  if (theirs) add_field(out, "X-Forwarded-Port", theirs->value);
  // RFC 7239: an IPv6 node is quoted and bracketed; a host with odd characters is quoted.
  std::string node = client.ip.find(':') != std::string_view::npos
                         ? "\"[" + std::string(client.ip) + "]\""
                         : std::string(client.ip);
  std::string fwd = client.trusted ? joined(req, "Forwarded") : std::string();
  if (!fwd.empty()) fwd += ", ";
  fwd += "for=" + node + ";host=" + quoted(host) + ";proto=" + proto;
  add_field(out, "Forwarded", fwd);
  evbuffer_add(out, "\r\n", 2);
}

void write_relayed_fields(evbuffer* out, const Response& resp, bool switching) {
  for (const HeaderField& h : resp.headers) {
    if (is_hop_by_hop(h.name, resp.headers)) continue;
    // A 101 has no body, and wsgate writes the WebSocket fields itself.
    if (switching && (is_websocket_field(h.name) || iequals(h.name, "Content-Length") ||
                      iequals(h.name, "Transfer-Encoding")))
      continue;
    add_field(out, h.name, h.value);
  }
}

bool parse_response(std::string_view head, Response& resp, const char** why) {
  resp = Response();
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  if (eol == std::string_view::npos || line.size() < 12 || line.substr(0, 7) != "HTTP/1." ||
      line[7] < '0' || line[7] > '9' || line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) {
    *why = "malformed status line";
    return false;
  }
  int status = 0;
  for (int i = 9; i < 12; i++) {
    if (line[i] < '0' || line[i] > '9') {
      *why = "malformed status code";
      return false;
    }
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100) {
    *why = "malformed status code";
    return false;
  }
  resp.status = status;
  resp.reason = line.size() > 13 ? line.substr(13) : std::string_view();
  if (parse_fields(head.substr(eol + 2), resp.headers, why) != 0) return false;
  return true;
}

bool check_switching(const Response& resp, std::string_view key,
                     const std::vector<std::string_view>& offered, bool deflate_offered,
                     Switched& out, const char** why) {
  out = Switched();
  const HeaderField* upgrade = find_header(resp.headers, "Upgrade");
  const HeaderField* connection = find_header(resp.headers, "Connection");
  const HeaderField* accept = find_header(resp.headers, "Sec-WebSocket-Accept");
  if (resp.status != http_status::kSwitching) {
    *why = "backend did not switch protocols";
    return false;
  }
  if (!upgrade || !has_token(upgrade->value, "websocket") || !connection ||
      !has_token(connection->value, "upgrade")) {
    *why = "backend's 101 lacks Upgrade: websocket or Connection: upgrade";
    return false;
  }
  if (!accept || accept->value != websocket_accept(key)) {
    *why = "backend's Sec-WebSocket-Accept does not match the key";
    return false;
  }
  // Every field counts: a second field must not smuggle in what the first one leaves out.
  std::string protocols, extensions;
  size_t n_protocol = 0;
  for (const HeaderField& h : resp.headers) {
    if (iequals(h.name, "Sec-WebSocket-Protocol")) {
      n_protocol++;
      protocols.assign(h.value.data(), h.value.size());
      out.protocol = h.value;
    } else if (iequals(h.name, "Sec-WebSocket-Extensions") && !h.value.empty()) {
      if (!extensions.empty()) extensions += ", ";
      extensions.append(h.value.data(), h.value.size());
      out.extensions = h.value;
    }
  }
  if (n_protocol > 0) {
    bool known = n_protocol == 1;
    bool offered_it = false;
    for (std::string_view o : offered) offered_it |= o == protocols;
    if (!known || !offered_it) {
      *why = "backend chose a subprotocol the client did not offer";
      return false;
    }
  }
  std::vector<std::string_view> accepted = elements(extensions);
  if (!accepted.empty() && (!deflate_offered || accepted.size() != 1 || !is_deflate(accepted[0]))) {
    *why = "backend accepted an extension the client did not offer";
    return false;
  }
  if (accepted.empty()) out.extensions = {};
  return true;
}

std::string new_websocket_key() {
  unsigned char raw[16], text[25];
  RAND_bytes(raw, sizeof raw);
  int n = EVP_EncodeBlock(text, raw, sizeof raw);
  return std::string(reinterpret_cast<char*>(text), static_cast<size_t>(n));
}
