#include "backend.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "plain_transport.h"
#include "tls.h"
#include "tls_transport.h"

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
  std::unique_ptr<SocketTransport> t;
  // The one place that picks a backend's transport: TLS for tls:// and wss:// alike.
  if (!addr.tls()) {
    t = std::make_unique<PlainTransport>(base);
  } else {
    SSL* ssl = tls_client_session(tls, addr.host, verify);
    if (!ssl) {
      err = "cannot set up the backend connection";
      return nullptr;
    }
    t = std::make_unique<TlsTransport>(base, ssl);
  }
  if (!t->connect(addr, dns, err)) return nullptr;
  return t;
}
