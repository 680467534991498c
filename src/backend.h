// Opening connections to tcp:// and unix: backends without blocking.
#pragma once

#include <string>

#include "config.h"

struct bufferevent;
struct evdns_base;

// Starts connecting an unconnected socket bufferevent whose callbacks are already set. The
// outcome arrives as BEV_EVENT_CONNECTED or an error event; false (with err) if it cannot start.
bool backend_connect(bufferevent* bev, evdns_base* dns, const BackendAddr& addr, std::string& err);
// Why a failed connect failed, for logs and the 502 body.
std::string backend_error(bufferevent* bev);
