#include "backend.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "bev_transport.h"
#include "plain_transport.h"
#include "tls.h"

void socket_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::unique_ptr<Transport> backend_connect(event_base* base, evdns_base* dns,
                                           const BackendAddr& addr, SSL_CTX* tls, bool verify,
                                           std::string& err) {
  if (addr.kind != BackendAddr::Kind::kWss) {
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
