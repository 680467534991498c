#include "backend.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>

#include "bev_transport.h"
#include "plain_transport.h"
#include "tls.h"

bool numeric_backend_address(const BackendAddr& addr, sockaddr_storage& ss, int& len) {
  memset(&ss, 0, sizeof ss);
  len = sizeof ss;
  if (evutil_parse_sockaddr_port(addr.host.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return false;
  // sin_port and sin6_port sit at the same offset.
  reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(static_cast<uint16_t>(addr.port));
  return true;
}

void socket_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::unique_ptr<Transport> backend_connect(event_base* base, evdns_base* dns,
                                           const BackendAddr& addr, SSL_CTX* tls, bool verify,
                                           std::string& err) {
  // The one place that picks a backend's transport: TLS for tls:// and wss:// alike.
  if (!addr.tls()) {
    auto t = std::make_unique<PlainTransport>(base);
    if (!t->connect(addr, dns, err)) return nullptr;
    return t;
  }
  SSL* ssl = tls_client_session(tls, addr.host, verify);
  bufferevent* bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                          BEV_OPT_CLOSE_ON_FREE)
                         : nullptr;
  if (!bev) {
    if (ssl) SSL_free(ssl);
    err = "cannot set up the backend connection";
    return nullptr;
  }
  // A peer that closes without close_notify is an EOF, as with plain TCP.
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  auto t = std::make_unique<BevTransport>(bev);
  if (!t->connect(addr, dns, err)) return nullptr;
  return t;
}
