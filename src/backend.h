// Opening connections to tcp://, unix:, ws:// and wss:// backends without blocking.
#pragma once

#include <string>

#include "config.h"

struct bufferevent;
struct event_base;
struct evdns_base;
typedef struct ssl_ctx_st SSL_CTX;

// An unconnected bufferevent for the backend: plain, or TLS for wss:// (from `tls`, with the
// host name checked when `verify`).
bufferevent* backend_new(event_base* base, const BackendAddr& addr, SSL_CTX* tls, bool verify);

// Starts connecting an unconnected socket bufferevent whose callbacks are already set. The
// outcome arrives as BEV_EVENT_CONNECTED or an error event; false (with err) if it cannot start.
bool backend_connect(bufferevent* bev, evdns_base* dns, const BackendAddr& addr, std::string& err);
// Turns Nagle off on a TCP socket (harmless elsewhere): a message's last segment must not wait
// for the peer's delayed ACK, which costs up to 40 ms a round trip.
void socket_nodelay(int fd);
// Why a failed connect failed, for logs and the 502 body.
std::string backend_error(bufferevent* bev);
