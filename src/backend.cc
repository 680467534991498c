#include "backend.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/util.h>

bool backend_connect(bufferevent* bev, evdns_base* dns, const BackendAddr& addr, std::string& err) {
  sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  int len = sizeof ss;
  int rc;
  if (addr.kind == BackendAddr::Kind::kUnix) {
    sockaddr_un* sun = reinterpret_cast<sockaddr_un*>(&ss);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, addr.path.c_str(), addr.path.size());
    rc = bufferevent_socket_connect(bev, reinterpret_cast<sockaddr*>(sun), sizeof *sun);
  } else if (evutil_parse_sockaddr_port(addr.host.c_str(), reinterpret_cast<sockaddr*>(&ss),
                                        &len) == 0) {
    // A numeric address: connect at once, failures arrive as events.
    reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(static_cast<uint16_t>(addr.port));
    rc = bufferevent_socket_connect(bev, reinterpret_cast<sockaddr*>(&ss), len);
  } else {
    // A name: resolved by the worker's non-blocking resolver.
    rc = bufferevent_socket_connect_hostname(bev, dns, AF_UNSPEC, addr.host.c_str(), addr.port);
  }
  if (rc != 0) {
    int e = errno;
    err = std::string("cannot connect to ") + addr.text + ": " + (e ? strerror(e) : "failed");
    return false;
  }
  return true;
}

std::string backend_error(bufferevent* bev) {
  int dns_err = bufferevent_socket_get_dns_error(bev);
  if (dns_err) return std::string("cannot resolve backend: ") + evutil_gai_strerror(dns_err);
  int e = EVUTIL_SOCKET_ERROR();
  return e ? evutil_socket_error_to_string(e) : "connection failed";
}
