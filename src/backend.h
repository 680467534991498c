// Opening connections to tcp://, tls://, unix:, ws:// and wss:// backends without blocking.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <string>

#include "config.h"
#include "transport.h"

struct event_base;
struct evdns_base;
typedef struct ssl_ctx_st SSL_CTX;

// A transport that is connecting to the backend: plain, or TLS for tls:// and wss:// (from
// `tls`, with the host name checked when `verify`); for TLS, kConnected means the handshake is
// done and the certificate verified. kConnected or kError follows; null, with err, when the
// connect cannot even start.
std::unique_ptr<Transport> backend_connect(event_base* base, evdns_base* dns,
                                           const BackendAddr& addr, SSL_CTX* tls, bool verify,
                                           std::string& err);
// A backend whose host is an IP literal, as a sockaddr with its port; false for a name.
bool numeric_backend_address(const BackendAddr& addr, sockaddr_storage& ss, int& len);
// Turns Nagle off on a TCP socket (harmless elsewhere): a message's last segment must not wait
// for the peer's delayed ACK, which costs up to 40 ms a round trip.
void socket_nodelay(int fd);
