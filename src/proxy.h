// The proxied handshake for ws:// and wss:// routes: the request wsgate sends the backend,
// and the checks on the backend's answer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "handshake.h"

struct evbuffer;
struct ClientCert;
class CidrSet;

// Who the client is, for the forwarding headers.
struct ClientInfo {
  std::string_view ip;               // without the port
  bool tls = false;                  // the client reached wsgate over TLS
  bool cert_checked = false;         // its listener asks for client certificates
  const ClientCert* cert = nullptr;  // the one that verified, if any
  // The peer is one of trusted_proxies (below): its X-Forwarded-* and Forwarded are extended
  // or kept; anyone else's are replaced.
  const CidrSet* proxies = nullptr;
  bool trusted = false;
};

// A backend's response head: views into its bytes.
struct Response {
  int status = 0;
  std::string_view reason;
  std::vector<HeaderField> headers;
};

// What a valid 101 from the backend agreed to.
struct Switched {
  std::string_view protocol;
  std::string_view extensions;  // permessage-deflate parameters, or empty
};

// The request target for the backend: its own path (plus the client's query), or the client's.
std::string backend_target(const Request& req, const BackendAddr& backend);
// The Host header for the backend; the port is left out when it is the scheme's default.
std::string backend_host(const BackendAddr& backend);
// The client's permessage-deflate offers, other extensions dropped; empty if none.
std::string deflate_offers(const Request& req);
// Writes the upgrade request: `key`, version 13, subprotocol offer (`protocols`,
// possibly empty) and end-to-end headers; hop-by-hop headers dropped; with `forwarded`,
// X-Forwarded-For, X-Real-IP, X-Forwarded-Proto/-Host and Forwarded (RFC 7239) added: a trusted
// peer's chains extended and its X-Forwarded-Proto/-Host/-Port kept, anyone else's replaced.
// X-SSL-Client-* fields are wsgate's: the client's are dropped, and where client certificates
// are checked, wsgate's own say what was verified.
void write_backend_request(evbuffer* out, const Request& req, const BackendAddr& backend,
                           std::string_view key, std::string_view protocols,
                           const ClientInfo& client, bool forwarded);
// A fresh Sec-WebSocket-Key, for a backend wsgate speaks RFC 6455 to on a hybi-00 client's behalf.
std::string new_websocket_key();
// Writes the end-to-end fields of a backend's answer (Set-Cookie and the like): hop-by-hop
// fields dropped, and for a 101 also the WebSocket fields, which wsgate writes itself.
void write_relayed_fields(evbuffer* out, const Response& resp, bool switching);
// Parses a response head (status line and fields). Returns false with `why` if malformed.
bool parse_response(std::string_view head, Response& resp, const char** why);
// Checks a 101 against the client's key and offers. Returns false with `why` if it is not one
// the client could accept.
bool check_switching(const Response& resp, std::string_view key,
                     const std::vector<std::string_view>& offered, bool deflate_offered,
                     Switched& out, const char** why);
