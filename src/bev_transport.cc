#include "bev_transport.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include "backend.h"
#include "config.h"

namespace {

void count_added(evbuffer*, const evbuffer_cb_info* info, void* arg) {
  *static_cast<uint64_t*>(arg) += info->n_added;
}

void count_deleted(evbuffer*, const evbuffer_cb_info* info, void* arg) {
  *static_cast<uint64_t*>(arg) += info->n_deleted;
}

}  // namespace

BevTransport::BevTransport(bufferevent* bev) : bev_(bev) {
  bufferevent_setcb(bev_, on_read, on_write, on_bev_event, this);
  evbuffer_add_cb(bufferevent_get_input(bev_), count_added, &bytes_read_);
  evbuffer_add_cb(bufferevent_get_output(bev_), count_deleted, &bytes_written_);
  bufferevent_setwatermark(bev_, EV_WRITE, kOutLow, 0);
}

BevTransport::~BevTransport() {
  bufferevent_free(bev_);
}

bool BevTransport::connect(const BackendAddr& addr, evdns_base* dns, std::string& err) {
  sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  int len = sizeof ss;
  int rc;
  if (evutil_parse_sockaddr_port(addr.host.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(static_cast<uint16_t>(addr.port));
    rc = bufferevent_socket_connect(bev_, reinterpret_cast<sockaddr*>(&ss), len);
  } else {
    rc = bufferevent_socket_connect_hostname(bev_, dns, AF_UNSPEC, addr.host.c_str(), addr.port);
  }
  if (rc != 0) {
    int e = errno;
    err = std::string("cannot connect to ") + addr.text + ": " + (e ? strerror(e) : "failed");
    return false;
  }
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
  return true;
}

evbuffer* BevTransport::input() {
  return bufferevent_get_input(bev_);
}

evbuffer* BevTransport::output() {
  return bufferevent_get_output(bev_);
}

// libevent writes by itself; only the watermark bookkeeping is ours.
void BevTransport::flush() {
  size_t len = evbuffer_get_length(output());
  if (len > kOutHigh) congested_ = true;
  if (len == 0 && shut_wanted_ && !shut_done_)
    bufferevent_trigger(bev_, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void BevTransport::set_reading(bool on) {
  if (on == reading_) return;
  reading_ = on;
  if (on)
    bufferevent_enable(bev_, EV_READ);
  else
    bufferevent_disable(bev_, EV_READ);
}

void BevTransport::set_read_limit(size_t bytes) {
  bufferevent_setwatermark(bev_, EV_READ, 0, bytes);
}

void BevTransport::shutdown_write(int timeout_sec) {
  if (shut_wanted_) return;
  shut_wanted_ = true;
  timeval tv = {timeout_sec, 0};
  bufferevent_set_timeouts(bev_, nullptr, &tv);
  bufferevent_setwatermark(bev_, EV_WRITE, 0, 0);
  flush();
}

void BevTransport::on_read(bufferevent*, void* ctx) {
  BevTransport* t = static_cast<BevTransport*>(ctx);
  if (t->handler_) t->handler_->on_readable(*t);
}

void BevTransport::on_write(bufferevent*, void* ctx) {
  BevTransport* t = static_cast<BevTransport*>(ctx);
  size_t len = evbuffer_get_length(t->output());
  if (!t->handler_) return;
  if (len == 0 && t->shut_wanted_ && !t->shut_done_) {
    t->shut_done_ = true;
    t->handler_->on_event(*t, TransportEvent::kShutdown);
  } else if (t->congested_ && len <= kOutLow) {
    t->congested_ = false;
    t->handler_->on_drained(*t);
  }
}

void BevTransport::on_bev_event(bufferevent* bev, short what, void* ctx) {
  BevTransport* t = static_cast<BevTransport*>(ctx);
  if (!t->handler_) return;
  if (what & BEV_EVENT_CONNECTED) {
    t->connected_ = true;
    socket_nodelay(bufferevent_getfd(bev));
    t->handler_->on_event(*t, TransportEvent::kConnected);
  } else if (what & BEV_EVENT_TIMEOUT) {
    t->handler_->on_event(*t, TransportEvent::kTimeout);
  } else if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
    t->handler_->on_event(*t, TransportEvent::kEof);
  } else {
    t->handler_->on_event(*t, TransportEvent::kError);
  }
}

std::string BevTransport::error() const {
  int dns_err = bufferevent_socket_get_dns_error(bev_);
  if (dns_err) return std::string("cannot resolve backend: ") + evutil_gai_strerror(dns_err);
  unsigned long tls = bufferevent_get_openssl_error(bev_);
  // Library 0 carries a socket error through OpenSSL; errno says it better.
  if (tls && ERR_GET_LIB(tls) != 0) {
    char buf[256];
    ERR_error_string_n(tls, buf, sizeof buf);
    while (bufferevent_get_openssl_error(bev_)) {
    }
    std::string why = std::string("TLS: ") + buf;
    // The verify result names the problem (host name mismatch, unknown CA, expiry ...).
    SSL* ssl = bufferevent_openssl_get_ssl(bev_);
    long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (verify != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    return why;
  }
  int e = EVUTIL_SOCKET_ERROR();
  return e ? evutil_socket_error_to_string(e) : "connection failed";
}
