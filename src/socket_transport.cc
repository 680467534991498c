#include "socket_transport.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "backend.h"
#include "config.h"
#include "log.h"

namespace {

// Read sizes adapt between these: small messages keep small evbuffer chains (memory per idle
// connection), a stream of large ones is read in one system call each. Sizes leave room for
// libevent's chain header, so a chain is one power-of-two allocation.
constexpr uint32_t kChainHeader = 128;
constexpr uint32_t kMaxRead = 256 * 1024 - kChainHeader;
// Most read from one socket in one wake-up, so that one busy peer cannot starve the others.
constexpr size_t kReadBudget = 512 * 1024;
// Empty evbuffers kept by each thread: a socket holds one only while it has bytes in it, so an
// idle connection carries none, and a busy one takes and gives them back without a malloc.
constexpr size_t kPoolMax = 256;

struct BufferPool {
  ~BufferPool() {
    for (evbuffer* b : free) evbuffer_free(b);
  }
  std::vector<evbuffer*> free;
};
thread_local BufferPool t_pool;

evbuffer* take_buffer() {
  if (t_pool.free.empty()) {
    evbuffer* b = evbuffer_new();
    if (!b) fatalx("out of memory for a connection's buffer");
    return b;
  }
  evbuffer* b = t_pool.free.back();
  t_pool.free.pop_back();
  return b;
}

void give_buffer(evbuffer* b) {
  if (t_pool.free.size() < kPoolMax)
    t_pool.free.push_back(b);
  else
    evbuffer_free(b);
}

size_t length(evbuffer* b) {
  return b ? evbuffer_get_length(b) : 0;
}

}  // namespace

SocketTransport::SocketTransport(event_base* base, int fd, const sockaddr* peer, uint32_t min_read)
    : base_(base), min_read_(min_read - kChainHeader), read_size_(min_read_) {
  info_ = accepted_conn_info(peer);
  use_fd(fd);
}

SocketTransport::SocketTransport(event_base* base, uint32_t min_read)
    : base_(base), min_read_(min_read - kChainHeader), read_size_(min_read_) {}

SocketTransport::~SocketTransport() {
  // A cancelled lookup still calls back, with EVUTIL_EAI_CANCEL and nothing else to touch.
  if (dns_req_) evdns_getaddrinfo_cancel(dns_req_);
  if (read_ev_) event_free(read_ev_);
  if (write_ev_) event_free(write_ev_);
  if (fd_ >= 0) close(fd_);
  // Bytes still in a buffer go with it; only empty ones go back to the pool.
  for (evbuffer* b : {in_, out_}) {
    if (b && evbuffer_get_length(b))
      evbuffer_free(b);
    else if (b)
      give_buffer(b);
  }
}

// Binds the events to a socket that is now ours, non-blocking already (accept4 and socket
// with SOCK_NONBLOCK): no fcntl(2) per connection.
void SocketTransport::use_fd(int fd) {
  fd_ = fd;
  socket_nodelay(fd);
  if (!read_ev_) read_ev_ = event_new(base_, fd, EV_READ | EV_PERSIST, on_read, this);
  if (write_ev_) {
    event_del(write_ev_);
    event_assign(write_ev_, base_, fd, EV_WRITE | EV_PERSIST, on_write, this);
  }
  if (!read_ev_) fatalx("out of memory for a new connection");
}

// The write event exists only while a write waits or a notification is due: most sockets
// write everything at once, and an idle connection then carries one event, not two.
void SocketTransport::need_write_ev() {
  if (write_ev_) return;
  write_ev_ = event_new(base_, fd_, EV_WRITE | EV_PERSIST, on_write, this);
  if (!write_ev_) fatalx("out of memory for a connection");
}

// Runs the write callback on the next loop turn, to deliver what is pending.
void SocketTransport::activate() {
  need_write_ev();
  event_active(write_ev_, EV_WRITE, 1);
}

bool SocketTransport::connect(const BackendAddr& addr, evdns_base* dns, std::string& err) {
  sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  int len = sizeof ss;
  connecting_ = true;
  if (addr.kind == BackendAddr::Kind::kUnix) {
    sockaddr_un* sun = reinterpret_cast<sockaddr_un*>(&ss);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, addr.path.c_str(), addr.path.size());
    start_connect(reinterpret_cast<sockaddr*>(sun), sizeof *sun);
  } else if (numeric_backend_address(addr, ss, len)) {
    start_connect(reinterpret_cast<sockaddr*>(&ss), len);
  } else {
    // A name, for the worker's non-blocking resolver; the first address is tried.
    evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    std::string port = std::to_string(addr.port);
    evdns_getaddrinfo_request* req =
        evdns_getaddrinfo(dns, addr.host.c_str(), port.c_str(), &hints, on_resolved, this);
    // A lookup answered at once (hosts file) has called back already and returns null.
    if (connecting_ && fd_ < 0 && !failed_) dns_req_ = req;
  }
  if (failed_ && fd_ < 0 && !dns_err_) {
    err = std::string("cannot connect to ") + addr.text + ": " + strerror(err_);
    return false;
  }
  return true;
}

void SocketTransport::on_resolved(int err, addrinfo* ai, void* ctx) {
  if (err == EVUTIL_EAI_CANCEL) return;  // the transport is gone
  SocketTransport* t = static_cast<SocketTransport*>(ctx);
  t->dns_req_ = nullptr;
  if (err || !ai) {
    t->dns_err_ = err ? err : EVUTIL_EAI_FAIL;
    t->fail(0);
  } else {
    t->start_connect(ai->ai_addr, ai->ai_addrlen);
  }
  if (ai) evutil_freeaddrinfo(ai);
}

// A non-blocking connect; its outcome arrives as writability.
void SocketTransport::start_connect(const sockaddr* sa, socklen_t len) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail(errno);
    return;
  }
  use_fd(fd);
  // Even a connect done at once (a unix socket) finishes from the write event: the owner may
  // still set a preamble after connect() returns.
  if (::connect(fd, sa, len) == 0 || errno == EINPROGRESS) {
    arm_write(true);
  } else {
    fail(errno);
  }
}

void SocketTransport::finish_connect() {
  int e = 0;
  socklen_t len = sizeof e;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &e, &len) < 0) e = errno;
  if (e) {
    fail(e);
    return;
  }
  if (preamble_ && !send_preamble()) return;
  connecting_ = false;
  arm_write(false);
  tcp_connected();
}

// Writes the preamble raw; false while some of it waits for writability, or on failure.
bool SocketTransport::send_preamble() {
  while (!preamble_->empty()) {
    ssize_t n = send(fd_, preamble_->data(), preamble_->size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        arm_write(true);
      else
        fail(errno);
      return false;
    }
    preamble_->erase(0, static_cast<size_t>(n));
  }
  preamble_.reset();
  return true;
}

// One getsockname(2), for the few users of the local address (outgoing PROXY headers).
void SocketTransport::learn_local_address() {
  if (!info_ || info_->local_addr.ss_family != AF_UNSPEC || fd_ < 0) return;
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  // Only inet addresses, as set_conn_addresses keeps them: a listener is never a unix socket.
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
      (local.ss_family == AF_INET || local.ss_family == AF_INET6))
    info_->local_addr = local;
}

void SocketTransport::set_preamble(const void* data, size_t len) {
  if (!connecting_) {  // not an outgoing connection still to open: nothing goes ahead of it
    Transport::set_preamble(data, len);
    return;
  }
  preamble_ = std::make_unique<std::string>(static_cast<const char*>(data), len);
}

void SocketTransport::established() {
  pending_ |= kPendConnected;
  update_read();
}

void SocketTransport::on_read(int, short, void* ctx) {
  static_cast<SocketTransport*>(ctx)->readable_io();
}

// Reads what the socket holds, up to the read limit and this wake-up's budget. A read that
// does not fill its space has emptied the socket, so no system call is spent to learn that.
void SocketTransport::read_some() {
  size_t total = 0;
  for (;;) {
    size_t have = evbuffer_get_length(input());
    if (have >= read_limit_) break;
    size_t want = std::min<size_t>({read_size_, read_limit_ - have, kReadBudget - total});
    evbuffer_iovec v[2];
    int nv = evbuffer_reserve_space(in_, static_cast<ev_ssize_t>(want), v, 2);
    if (nv <= 0) {
      fail(ENOMEM);
      break;
    }
    // The reserved space may be larger than asked for; the limit holds all the same.
    iovec iov[2];
    size_t space = 0;
    for (int i = 0; i < nv; i++) {
      iov[i].iov_base = v[i].iov_base;
      iov[i].iov_len = std::min(v[i].iov_len, want - space);
      space += iov[i].iov_len;
    }
    ssize_t n = read_iov(iov, nv, space);
    if (n < 0) {
      evbuffer_commit_space(in_, v, 0);
      break;
    }
    size_t left = static_cast<size_t>(n);
    int used = 0;
    for (int i = 0; i < nv && left; i++, used++) {
      v[i].iov_len = std::min(left, v[i].iov_len);
      left -= v[i].iov_len;
    }
    evbuffer_commit_space(in_, v, used);
    if (n == 0) {
      eof_ = true;
      notify(kPendEof);
      break;
    }
    bytes_read_ += static_cast<uint64_t>(n);
    total += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < space) break;
    if (read_size_ < kMaxRead) read_size_ = (read_size_ + kChainHeader) * 2 - kChainHeader;
    if (total >= kReadBudget) break;
  }
  // Judged on the whole wake-up: the short tail of a large burst is no reason to shrink.
  if (total && total < read_size_ / 4 && read_size_ > min_read_)
    read_size_ = (read_size_ + kChainHeader) / 2 - kChainHeader;
  update_read();
  if (!total) release_empty();
  if (total && handler_) handler_->on_readable(*this);  // may free this: nothing after it
}

void SocketTransport::on_write(int, short what, void* ctx) {
  SocketTransport* t = static_cast<SocketTransport*>(ctx);
  if (what & EV_TIMEOUT) {
    t->arm_write(false);
    t->pending_ |= kPendTimeout;
  } else if (t->connecting_) {
    if (t->fd_ >= 0 && !t->failed_) t->finish_connect();
  } else if (t->fd_ >= 0 && !t->failed_) {
    t->writable_io();
  }
  t->release_empty();
  t->deliver();
}

// Writes what the kernel takes; notes a drain below kOutLow and, when asked, half-closes.
void SocketTransport::write_some() {
  if (!io_open()) return;  // the handshake owns the events until it is done
  size_t len = length(out_);
  if (len > kOutHigh) congested_ = true;
  if (len) {
    write_out();
    if (failed_) return;
    len = evbuffer_get_length(out_);
  }
  if (congested_ && len <= kOutLow) {
    congested_ = false;
    pending_ |= kPendDrained;
  }
  if (len == 0 && shut_wanted_ && !shut_done_) {
    if (!write_end()) {
      if (!failed_) arm_write(true);
      return;
    }
    shut_done_ = true;
    pending_ |= kPendShutdown;
  }
  arm_write(wants_write(len > 0));
}

evbuffer* SocketTransport::input() {
  if (!in_) in_ = take_buffer();
  return in_;
}

evbuffer* SocketTransport::output() {
  if (!out_) out_ = take_buffer();
  return out_;
}

bool SocketTransport::congested() const {
  return length(out_) > kOutHigh;
}

// Gives empty buffers back to the pool. Only where no caller can hold one: at the end of the
// owner's callback (flush) and in our own event callbacks.
void SocketTransport::release_empty() {
  if (in_ && !evbuffer_get_length(in_)) {
    give_buffer(in_);
    in_ = nullptr;
  }
  if (out_ && !evbuffer_get_length(out_)) {
    give_buffer(out_);
    out_ = nullptr;
  }
}

void SocketTransport::flush() {
  flush_now();
  release_empty();
}

void SocketTransport::flush_now() {
  if (fd_ < 0 || connecting_ || failed_) return;
  update_read();
  if (write_armed_) return;  // the socket is full; the write event takes it from here
  write_some();
  if (pending_) activate();
}

void SocketTransport::set_reading(bool on) {
  reading_ = on;
  update_read();
}

void SocketTransport::set_read_limit(size_t bytes) {
  read_limit_ = bytes;
  update_read();
}

void SocketTransport::shutdown_write(int timeout_sec) {
  if (shut_wanted_) return;
  shut_wanted_ = true;
  write_timeout_ = timeout_sec;
  if (write_armed_) {
    write_armed_ = false;  // re-armed with the timeout
    arm_write(true);
  }
  flush_now();
}

// Watches for readability only while the owner wants bytes and the input has room, or the
// subclass needs it. Bytes already off the socket get a read scheduled: no event would come.
void SocketTransport::update_read() {
  bool owner = reading_ && !eof_ && io_open() && length(in_) < read_limit_;
  bool want = !failed_ && !connecting_ && fd_ >= 0 && (owner || io_needs_read());
  if (want != read_armed_) {
    read_armed_ = want;
    if (want)
      event_add(read_ev_, nullptr);
    else
      event_del(read_ev_);
  }
  if (owner && want && io_buffered()) event_active(read_ev_, EV_READ, 1);
}

void SocketTransport::arm_write(bool on) {
  if (on == write_armed_) return;
  write_armed_ = on;
  if (!on) {
    event_del(write_ev_);
    return;
  }
  need_write_ev();
  if (write_timeout_ > 0) {
    timeval tv = {write_timeout_, 0};
    event_add(write_ev_, &tv);
  } else {
    event_add(write_ev_, nullptr);
  }
}

void SocketTransport::fail(int err) {
  if (failed_) return;
  failed_ = true;
  err_ = err;
  if (read_armed_) event_del(read_ev_);
  read_armed_ = false;
  arm_write(false);
  notify(kPendError);
}

// Queues a notification for the next loop turn, so the owner never hears from inside its own call.
void SocketTransport::notify(uint8_t what) {
  pending_ |= what;
  activate();
}

// Delivers one notification; the rest wait for another turn, since the owner may free us.
void SocketTransport::deliver() {
  static const struct {
    uint8_t bit;
    TransportEvent ev;
  } kOrder[] = {{kPendConnected, TransportEvent::kConnected},
                {kPendEof, TransportEvent::kEof},
                {kPendShutdown, TransportEvent::kShutdown},
                {kPendError, TransportEvent::kError},
                {kPendTimeout, TransportEvent::kTimeout}};
  if (!pending_ || !handler_) return;
  if (pending_ & kPendDrained) {
    pending_ &= ~kPendDrained;
    if (pending_) activate();
    handler_->on_drained(*this);
    return;
  }
  for (const auto& o : kOrder) {
    if (!(pending_ & o.bit)) continue;
    pending_ &= ~o.bit;
    if (pending_) {
      activate();
    } else if (o.bit == kPendConnected && !write_armed_) {
      // The connect was what the write event was for; freeing it inside its own callback is
      // safe, libevent touches an event no more once its callback runs.
      event_free(write_ev_);
      write_ev_ = nullptr;
    }
    handler_->on_event(*this, o.ev);
    return;
  }
}

std::string SocketTransport::error() const {
  if (dns_err_) return std::string("cannot resolve backend: ") + evutil_gai_strerror(dns_err_);
  return err_ ? strerror(err_) : "connection failed";
}
