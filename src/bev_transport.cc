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
#include "log.h"
#include "tls.h"

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

std::unique_ptr<BevTransport> BevTransport::accept_tls(event_base* base, int fd,
                                                       const sockaddr* peer, SSL_CTX* ctx) {
  socket_nodelay(fd);
  SSL* ssl = SSL_new(ctx);
  bufferevent* bev = ssl ? bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                          BEV_OPT_CLOSE_ON_FREE)
                         : nullptr;
  if (!bev) {
    if (ssl) SSL_free(ssl);
    evutil_closesocket(fd);
    return nullptr;
  }
  // A client that closes without close_notify is an EOF, as with plain TCP.
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  std::unique_ptr<BevTransport> t(new BevTransport(bev));
  t->accepted_ = true;
  t->info_ = accepted_conn_info(fd, peer);
  t->info_->tls = true;
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  return t;
}

void BevTransport::tls_established() {
  SSL* ssl = bufferevent_openssl_get_ssl(bev_);
  if (ssl && info_) tls_session_info(ssl, *info_);
}

bool BevTransport::connect(const BackendAddr& addr, evdns_base* dns, std::string& err) {
  sockaddr_storage ss;
  int len;
  int rc;
  if (numeric_backend_address(addr, ss, len)) {
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
  // A client that never finished the TLS handshake cannot read an answer: drop it and close.
  if (accepted_ && !connected_) evbuffer_drain(output(), evbuffer_get_length(output()));
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
    // Without TLS there is no FIN to wait for an answer to: the connection is simply over.
    bool no_tls = t->accepted_ && !t->connected_;
    t->handler_->on_event(*t, no_tls ? TransportEvent::kError : TransportEvent::kShutdown);
  } else if (t->congested_ && len <= kOutLow) {
    t->congested_ = false;
    t->handler_->on_drained(*t);
  }
}

void BevTransport::on_bev_event(bufferevent* bev, short what, void* ctx) {
  BevTransport* t = static_cast<BevTransport*>(ctx);
  if (!t->handler_) return;
  if ((what & BEV_EVENT_CONNECTED) && t->accepted_) {
    t->connected_ = true;
    t->tls_established();
  } else if (what & BEV_EVENT_CONNECTED) {
    t->connected_ = true;
    socket_nodelay(bufferevent_getfd(bev));
    t->handler_->on_event(*t, TransportEvent::kConnected);
  } else if (what & BEV_EVENT_TIMEOUT) {
    t->handler_->on_event(*t, TransportEvent::kTimeout);
  } else if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
    t->handler_->on_event(*t, TransportEvent::kEof);
  } else {
    if (t->accepted_ && !t->connected_) {
      std::string why = t->error();
      t->info_->tls_failure = tls_failure_kind(t->tls_error_);
      log_info("%s: TLS handshake failed: %s", t->info_->peer.c_str(), why.c_str());
    }
    t->handler_->on_event(*t, TransportEvent::kError);
  }
}

std::string BevTransport::error() const {
  int dns_err = bufferevent_socket_get_dns_error(bev_);
  if (dns_err) return std::string("cannot resolve backend: ") + evutil_gai_strerror(dns_err);
  unsigned long tls = bufferevent_get_openssl_error(bev_);
  // Library 0 carries a socket error through OpenSSL; errno says it better.
  tls_error_ = tls;
  if (tls && ERR_GET_LIB(tls) != 0) {
    while (bufferevent_get_openssl_error(bev_)) {
    }
    return tls_failure_reason(bufferevent_openssl_get_ssl(bev_), tls);
  }
  int e = EVUTIL_SOCKET_ERROR();
  return e ? evutil_socket_error_to_string(e) : "connection failed";
}
