#include "proxy_accept.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <string>

#include "counters.h"
#include "log.h"
#include "proxy_protocol_in.h"
#include "transport.h"

namespace {

constexpr int kLogLinesPerSec = 10;  // refusal lines; a flood is summed up in the next one

}  // namespace

const char* proxy_refusal_label(int kind) {
  switch (static_cast<ProxyRefusal>(kind)) {
    case ProxyRefusal::kMalformed:
      return "malformed";
    case ProxyRefusal::kOversized:
      return "oversized";
    case ProxyRefusal::kTimeout:
      return "timeout";
    case ProxyRefusal::kClosed:
      return "closed";
    case ProxyRefusal::kShutdown:
      break;
  }
  return "shutdown";
}

// One connection waiting for its header: the bytes of it read so far, and no more.
struct ProxyFilters::Pending {
  Pending* prev = nullptr;
  Pending* next = nullptr;
  ProxyFilters* owner;
  int fd;
  event* ev = nullptr;
  uint64_t deadline_us;
  sockaddr_storage peer{};
  bool tls;
  bool over_limit;
  size_t have = 0;
  uint8_t buf[kProxyHeaderMax];
};

ProxyFilters::ProxyFilters(event_base* base, OnAccepted accepted, OnRefused refused)
    : base_(base), accepted_(std::move(accepted)), refused_(std::move(refused)) {}

ProxyFilters::~ProxyFilters() {
  clear();
}

void ProxyFilters::start(int fd, const sockaddr* peer, bool tls, bool over_limit,
                         uint64_t timeout_ms) {
  Pending* p = new Pending;
  p->owner = this;
  p->fd = fd;
  p->tls = tls;
  p->over_limit = over_limit;
  p->deadline_us = monotonic_us() + timeout_ms * 1000;
  size_t len = peer->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  memcpy(&p->peer, peer, len);
  p->next = pending_;
  if (pending_) pending_->prev = p;
  pending_ = p;
  // One-shot, re-added with the time left: a byte at a time cannot stretch the deadline.
  p->ev = event_new(base_, fd, EV_READ, on_event, p);
  if (!p->ev) {
    refuse(p, ProxyRefusal::kClosed, "out of memory");
    return;
  }
  step(p, EV_READ);  // the header often came with the connection
}

void ProxyFilters::clear() {
  while (pending_) refuse(pending_, ProxyRefusal::kShutdown, nullptr);
}

void ProxyFilters::on_event(int, short what, void* ctx) {
  Pending* p = static_cast<Pending*>(ctx);
  p->owner->step(p, what);
}

// Peeks at what has come, and reads for good only header bytes: all of them while the header
// is incomplete, exactly its remainder once the parser has found its end.
void ProxyFilters::step(Pending* p, short what) {
  uint64_t now = monotonic_us();
  if ((what & EV_TIMEOUT) || now >= p->deadline_us)
    return refuse(p, ProxyRefusal::kTimeout, "no complete PROXY header in time");
  ssize_t n;
  do {
    n = recv(p->fd, p->buf + p->have, sizeof p->buf - p->have, MSG_PEEK);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return refuse(p, ProxyRefusal::kClosed, "closed before its PROXY header");
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    return refuse(p, ProxyRefusal::kClosed, strerror(errno));
  if (n > 0) {
    ProxyHeader h;
    size_t seen = p->have + static_cast<size_t>(n);
    ProxyParse r = parse_proxy_header(p->buf, seen, h);
    if (r == ProxyParse::kError)
      return refuse(
          p,
          h.error == ProxyError::kOversized ? ProxyRefusal::kOversized : ProxyRefusal::kMalformed,
          h.reason);
    size_t take = r == ProxyParse::kDone ? h.length - p->have : static_cast<size_t>(n);
    ssize_t got;
    do {
      got = recv(p->fd, p->buf + p->have, take, 0);  // the bytes just peeked at
    } while (got < 0 && errno == EINTR);
    if (got != static_cast<ssize_t>(take))
      return refuse(p, ProxyRefusal::kClosed, "the socket failed while its header was read");
    p->have += take;
    if (r == ProxyParse::kDone) {
      accepted_({p->fd, reinterpret_cast<const sockaddr*>(&p->peer), h, p->tls, p->over_limit});
      p->fd = -1;  // the transport's now
      return finish(p);
    }
  }
  uint64_t left = p->deadline_us - now;
  timeval tv = {static_cast<time_t>(left / 1000000), static_cast<suseconds_t>(left % 1000000)};
  event_add(p->ev, &tv);
}

// Unlinks and frees a pending connection, closing its socket unless it was handed on.
void ProxyFilters::finish(Pending* p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    pending_ = p->next;
  if (p->next) p->next->prev = p->prev;
  if (p->ev) event_free(p->ev);
  if (p->fd >= 0) close(p->fd);
  delete p;
}

// A balancer gets no HTTP answer here (HAProxy also just closes): it is not the client, and
// the client's bytes are of unknown kind. The line names the socket's peer: the balancer.
void ProxyFilters::refuse(Pending* p, ProxyRefusal why, const char* detail) {
  if (why != ProxyRefusal::kShutdown) {
    int64_t sec = static_cast<int64_t>(monotonic_us() / 1000000);
    if (sec != last_log_) {
      last_log_ = sec;
      logged_ = 0;
    }
    if (logged_ < kLogLinesPerSec) {
      logged_++;
      std::string peer = format_address(reinterpret_cast<const sockaddr*>(&p->peer), nullptr);
      std::string more = unlogged_ ? " (" + std::to_string(unlogged_) + " more not logged)" : "";
      log_info("%s: proxy listener: closing, %s: %s%s", log_escape(peer).c_str(),
               proxy_refusal_label(static_cast<int>(why)), log_escape(detail).c_str(),
               more.c_str());
      unlogged_ = 0;
    } else {
      unlogged_++;
    }
  }
  finish(p);
  refused_(why);
}
