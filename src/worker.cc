#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "backend.h"
#include "log.h"
#include "plain_transport.h"
#include "proxy_accept.h"
#include "proxy_protocol_in.h"
#include "session.h"
#include "tls_transport.h"

namespace {
constexpr int kAcceptBackoffMs = 100;  // pause after accept() fails, e.g. out of descriptors
constexpr int kAcceptWarnEverySec = 10;
}  // namespace

Worker::Worker(int id, std::shared_ptr<const Runtime> rt, std::atomic<uint64_t>& active)
    : id_(id), rt_(std::move(rt)), active_(active), serving_(rt_.get()) {
  // The changelist folds a socket's enable/disable pairs within one loop turn into at most one
  // epoll_ctl, where each costs a system call otherwise (safe: wsgate never dup()s a socket).
  event_config* cfg = event_config_new();
  if (!cfg) fatalx("cannot create an event base");
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  // Only this worker's thread touches its base, so libevent need not take a lock around every
  // callback; other threads wake it through wake_fd_.
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  base_ = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (!base_) fatalx("cannot create an event base");
  dns_ =
      evdns_base_new(base_, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  if (!dns_) dns_ = evdns_base_new(base_, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) fatal("eventfd");
  wake_ev_ = event_new(base_, wake_fd_, EV_READ | EV_PERSIST, on_wake, this);
  if (!wake_ev_ || event_add(wake_ev_, nullptr) != 0) fatalx("cannot watch the wake-up eventfd");
  resume_ev_ = evtimer_new(base_, on_resume, this);
  deadline_ev_ = evtimer_new(base_, on_deadline, this);
  route_counters_.index(rt_->router);
  proxy_filters_ = std::make_unique<ProxyFilters>(
      base_,
      [this](const ProxyFilters::Accepted& a) {
        serve(a.fd, a.socket_peer, a.tls, a.over_limit, &a.header);
      },
      [this](ProxyRefusal why) {
        if (why != ProxyRefusal::kShutdown)
          counter_add(counters_.proxy_refusals[static_cast<int>(why)]);
        release_connection();
      });
}

Worker::~Worker() {
  while (sessions_) session_done(sessions_);
  proxy_filters_.reset();
  for (Listener& l : listeners_) evconnlistener_free(l.l);
  event_free(wake_ev_);
  close(wake_fd_);
  event_free(resume_ev_);
  event_free(deadline_ev_);
  if (dns_) evdns_base_free(dns_, 0);
  event_base_free(base_);
}

bool listen_address_free(const ListenAddr& a, std::string& err) {
  // SO_REUSEPORT would let us share a port with another process; a plain bind tells first.
  evutil_socket_t fd = socket(a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = "cannot listen on " + a.text + ": " + strerror(errno);
    return false;
  }
  evutil_make_listen_socket_reuseable(fd);
  bool ok = bind(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.addrlen) == 0;
  if (!ok) err = "cannot listen on " + a.text + ": " + strerror(errno);
  evutil_closesocket(fd);
  return ok;
}

bool listen_same_address(const ListenAddr& a, const ListenAddr& b) {
  return a.addrlen == b.addrlen && memcmp(&a.addr, &b.addr, a.addrlen) == 0;
}

bool Worker::listen(std::string& err) {
  return follow_listeners(rt_->config.listen, err);
}

bool Worker::follow_listeners(const std::vector<ListenAddr>& want, std::string& err) {
  for (size_t i = 0; i < listeners_.size();) {
    const ListenAddr* keep = nullptr;
    for (const ListenAddr& a : want)
      if (listen_same_address(a, listeners_[i].addr)) keep = &a;
    if (keep) {
      listeners_[i++].addr = *keep;
    } else {
      evconnlistener_free(listeners_[i].l);
      listeners_.erase(listeners_.begin() + static_cast<long>(i));
    }
  }
  unsigned flags =
      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT;
  bool ok = true;
  for (const ListenAddr& a : want) {
    bool have = false;
    for (const Listener& l : listeners_) have = have || listen_same_address(a, l.addr);
    if (have) continue;
    evconnlistener* l = evconnlistener_new_bind(
        base_, on_accept, this, flags, 1024, reinterpret_cast<const sockaddr*>(&a.addr), a.addrlen);
    if (!l) {
      err = "cannot listen on " + a.text + ": " + strerror(errno);
      ok = false;
      continue;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    listeners_.push_back({a, l});
  }
  return ok;
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::run() {
  // Named, so that top -H and ps -L tell the workers from the log writer and metrics threads.
  std::string name = "wsgate worker " + std::to_string(id_);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  log_debug("worker %d running", id_);
  event_base_dispatch(base_);
  log_debug("worker %d stopped", id_);
  finished_ = true;
}

void Worker::wake() {
  uint64_t one = 1;
  while (write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void Worker::stop() {
  stop_asked_ = true;
  wake();
}

void Worker::use_runtime(std::shared_ptr<const Runtime> rt) {
  {
    std::lock_guard<std::mutex> lock(next_rt_mu_);
    next_rt_ = std::move(rt);
  }
  wake();
}

// What other threads asked for: a new Runtime, a stop, or both, in that order.
void Worker::on_wake(int fd, short, void* ctx) {
  Worker* w = static_cast<Worker*>(ctx);
  uint64_t n;
  while (read(fd, &n, sizeof n) < 0 && errno == EINTR) {
  }
  w->take_runtime();
  if (w->stop_asked_ && !w->stopping_) w->stop_now();
}

// The swap happens on the worker's thread, between callbacks, so rt_ needs no lock.
void Worker::take_runtime() {
  {
    std::lock_guard<std::mutex> lock(next_rt_mu_);
    if (!next_rt_ || next_rt_ == rt_) return;
    rt_ = std::move(next_rt_);
  }
  route_counters_.index(rt_->router);
  // Every session open now started on an older Runtime.
  counters_.old_generation.store(counters_.active.load(std::memory_order_relaxed),
                                 std::memory_order_relaxed);
  std::string err;
  if (!stopping_ && !follow_listeners(rt_->config.listen, err))
    log_error("worker %d: %s", id_, err.c_str());
  serving_ = rt_.get();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<Transport> Worker::connect_backend(const BackendAddr& addr, SSL_CTX* tls,
                                                   bool verify, std::string& err) {
  return ::backend_connect(base_, dns_, addr, tls, verify, err);
}

void Worker::session_done(Session* s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    sessions_ = s->next;
  if (s->next) s->next->prev = s->prev;
  if (s->runtime() != rt_.get())
    WorkerCounters::add(counters_.old_generation, static_cast<uint64_t>(-1));
  delete s;
  active_.fetch_sub(1);
  WorkerCounters::add(counters_.active, static_cast<uint64_t>(-1));
  if (stopping_ && !sessions_) event_base_loopexit(base_, nullptr);
}

// A session per client; on a tls listener its transport does the TLS handshake first, and on
// a proxy listener a filter reads the PROXY header before either.
void Worker::on_accept(evconnlistener* l, int fd, sockaddr* addr, int, void* ctx) {
  Worker* w = static_cast<Worker*>(ctx);
  const Listener* from = nullptr;
  for (const Listener& x : w->listeners_)
    if (x.l == l) from = &x;
  bool tls = from && from->addr.tls;
  bool over = w->reserve_connection();
  if (from && from->addr.proxy)
    w->proxy_filters_->start(fd, addr, tls, over, w->rt_->config.proxy_protocol_timeout_ms);
  else
    w->serve(fd, addr, tls, over, nullptr);
}

bool Worker::reserve_connection() {
  WorkerCounters::add(counters_.accepted);
  WorkerCounters::add(counters_.active);
  return active_.fetch_add(1) >= rt_->config.max_connections;
}

void Worker::release_connection() {
  active_.fetch_sub(1);
  WorkerCounters::add(counters_.active, static_cast<uint64_t>(-1));
}

void Worker::serve(int fd, const sockaddr* peer, bool tls, bool over, const ProxyHeader* proxy) {
  std::unique_ptr<Transport> t;
  if (tls && rt_->tls_server) {
    t = TlsTransport::accept(base_, fd, peer, rt_->tls_server->context());
    if (!t) {
      log_warn("worker %d: cannot set up TLS for a client: out of memory?", id_);
      release_connection();
      return;
    }
  } else {
    t = std::make_unique<PlainTransport>(base_, fd, peer);
  }
  if (proxy && proxy->addresses)
    t->set_addresses(reinterpret_cast<const sockaddr*>(&proxy->src),
                     reinterpret_cast<const sockaddr*>(&proxy->dst));
  Session* s = new Session(*this, rt_, std::move(t), over);
  s->next = sessions_;
  if (sessions_) sessions_->prev = s;
  sessions_ = s;
}

// accept() failed (most often EMFILE): pause this worker's listeners instead of spinning, and
// log once per kAcceptWarnEverySec rather than at every retry.
void Worker::on_accept_error(evconnlistener*, void* ctx) {
  Worker* w = static_cast<Worker*>(ctx);
  int e = EVUTIL_SOCKET_ERROR();
  time_t now = time(nullptr);
  if (now - w->last_accept_warn_ >= kAcceptWarnEverySec) {
    log_warn(
        "worker %d: accept failed: %s; pausing accepts for %d ms at a time (%llu more "
        "failures since the last warning)",
        w->id_, evutil_socket_error_to_string(e), kAcceptBackoffMs,
        static_cast<unsigned long long>(w->accept_failures_));
    w->last_accept_warn_ = now;
    w->accept_failures_ = 0;
  } else {
    w->accept_failures_++;
  }
  for (Listener& l : w->listeners_) evconnlistener_disable(l.l);
  timeval tv = {0, kAcceptBackoffMs * 1000};
  evtimer_add(w->resume_ev_, &tv);
}

void Worker::on_resume(int, short, void* ctx) {
  Worker* w = static_cast<Worker*>(ctx);
  if (w->stopping_) return;
  for (Listener& l : w->listeners_) evconnlistener_enable(l.l);
}

// Stop accepting, close open sessions with 1001, and exit once they are gone or time is up.
void Worker::stop_now() {
  stopping_ = true;
  for (Listener& l : listeners_) evconnlistener_free(l.l);
  listeners_.clear();
  evtimer_del(resume_ev_);
  proxy_filters_->clear();
  for (Session* s = sessions_; s;) {
    Session* next = s->next;
    s->shutdown();  // may delete s
    s = next;
  }
  if (!sessions_) {
    event_base_loopexit(base_, nullptr);
    return;
  }
  uint64_t ms = rt_->config.shutdown_timeout_ms;
  timeval tv = {static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
  evtimer_add(deadline_ev_, &tv);
}

void Worker::on_deadline(int, short, void* ctx) {
  Worker* w = static_cast<Worker*>(ctx);
  log_warn("worker %d: %s", w->id_, "closing connections still open at the shutdown deadline");
  event_base_loopexit(w->base_, nullptr);
}
