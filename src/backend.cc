#include "backend.h"

#include <openssl/err.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <openssl/ssl.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/util.h>

#include "tls.h"

void socket_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bufferevent* backend_new(event_base* base, const BackendAddr& addr, SSL_CTX* tls, bool verify) {
  if (addr.kind != BackendAddr::Kind::kWss)
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  SSL* ssl = tls_client_session(tls, addr.host, verify);
  if (!ssl) return nullptr;
  bufferevent* bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
  // A peer that closes without close_notify is an EOF, as with plain TCP.
  if (bev) bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  return bev;
}

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
  unsigned long tls = bufferevent_get_openssl_error(bev);
  // Library 0 carries a socket error through OpenSSL; errno says it better.
  if (tls && ERR_GET_LIB(tls) != 0) {
    char buf[256];
    ERR_error_string_n(tls, buf, sizeof buf);
    while (bufferevent_get_openssl_error(bev)) {
    }
    std::string why = std::string("TLS: ") + buf;
    // The verify result names the problem (host name mismatch, unknown CA, expiry ...).
    SSL* ssl = bufferevent_openssl_get_ssl(bev);
    long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (verify != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    return why;
  }
  int e = EVUTIL_SOCKET_ERROR();
  return e ? evutil_socket_error_to_string(e) : "connection failed";
}
