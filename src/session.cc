#include "session.h"

#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "backend.h"
#include "chain.h"
#include "handshake.h"
#include "http.h"
#include "log.h"
#include "route.h"
#include "worker.h"

namespace {

// le-proxy style backpressure: stop reading a source while its sink holds more than kOutHigh,
// resume once the sink drains to kOutLow.
constexpr size_t kOutHigh = 256 * 1024;
constexpr size_t kOutLow = kOutHigh / 2;
constexpr size_t kInHigh = 256 * 1024;   // most read from one socket before it is processed
constexpr uint64_t kCloseWaitMs = 5000;  // for the client's EOF after our final FIN
constexpr int kFlushTimeoutSec = 30;     // a peer that takes nothing for this long is dropped
constexpr char kPingPayload[] = "wsgate-keepalive";

uint64_t ms_between(const timeval& a, const timeval& b) {
  int64_t ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_usec - a.tv_usec) / 1000;
  return ms > 0 ? static_cast<uint64_t>(ms) : 0;
}

timeval add_ms(const timeval& t, uint64_t ms) {
  timeval d = {static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)}, r;
  evutil_timeradd(&t, &d, &r);
  return r;
}

size_t out_len(bufferevent* bev) {
  return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

void count_added(evbuffer*, const evbuffer_cb_info* info, void* arg) {
  *static_cast<uint64_t*>(arg) += info->n_added;
}

void count_deleted(evbuffer*, const evbuffer_cb_info* info, void* arg) {
  *static_cast<uint64_t*>(arg) += info->n_deleted;
}

void set_write_timeout(bufferevent* bev) {
  timeval tv = {kFlushTimeoutSec, 0};
  bufferevent_set_timeouts(bev, nullptr, &tv);
}

}  // namespace

Session::Session(Worker& worker, std::shared_ptr<const Runtime> rt, int fd, const sockaddr* addr,
                 bool over_limit)
    : worker_(worker), rt_(std::move(rt)), over_limit_(over_limit) {
  char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
  getnameinfo(addr, addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in), host,
              sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
  snprintf(peer_, sizeof peer_, addr->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
  event_base_gettimeofday_cached(worker_.base(), &start_);
  last_activity_ = next_ping_ = start_;
  client_ = bufferevent_socket_new(worker_.base(), fd, BEV_OPT_CLOSE_ON_FREE);
  timer_ = evtimer_new(worker_.base(), on_timer, this);
  if (!client_ || !timer_) fatalx("out of memory for a new connection");
  evbuffer_add_cb(bufferevent_get_input(client_), count_added, &bytes_in_);
  evbuffer_add_cb(bufferevent_get_output(client_), count_deleted, &bytes_out_);
  bufferevent_setcb(client_, on_client_read, on_client_write, on_client_event, this);
  // One byte over the cap is enough to tell a too-large request head.
  bufferevent_setwatermark(client_, EV_READ, 0, kMaxRequestHead + 1);
  bufferevent_enable(client_, EV_READ | EV_WRITE);
  arm_timer(rt_->config.limits.handshake_timeout_ms);
}

Session::~Session() {
  write_access_log();
  free_client();
  free_backend();
  if (timer_) event_free(timer_);
  worker_.active().fetch_sub(1);
}

void Session::shutdown() {
  switch (state_) {
    case State::kHandshake:
    case State::kConnecting:
      reject(http_status::kUnavailable, "server is shutting down");
      break;
    case State::kOpen:
      send_close(close_code::kGoingAway, "server shutting down");
      close_backend();
      close_client();
      break;
    case State::kClosing:
      break;
  }
  maybe_done();
}

// ---- handshake ----

void Session::read_handshake() {
  evbuffer* in = bufferevent_get_input(client_);
  long head = find_request_head(in);
  if (head == 0) return;
  if (head < 0) {
    reject(http_status::kHeadersTooLarge, "request line and headers exceed 8 KiB");
    return;
  }
  accept_request(in, static_cast<size_t>(head));
}

// Validates the request and either answers an error or moves on to the backend.
void Session::accept_request(evbuffer* in, size_t head_len) {
  const char* raw = reinterpret_cast<const char*>(evbuffer_pullup(in, head_len));
  Request req;
  Upgrade up;
  const char* why = "";
  int status = parse_request(std::string_view(raw, head_len), req, &why);
  if (status == 0) path_.assign(req.path.data(), req.path.size());
  if (status == 0 && req.method != "GET") {
    status = http_status::kMethodNotAllowed;
    why = "only GET can upgrade to WebSocket";
  }
  if (status == 0 && over_limit_) {
    status = http_status::kUnavailable;
    why = "max_connections reached; try again later";
  }
  if (status == 0 && !(route_ = rt_->router.match(req.path))) {
    status = http_status::kNotFound;
    why = "no route for this path";
  }
  if (status == 0) status = check_upgrade(req, up, &why);
  if (status == 0 && !route_->origin_allowed(up.origin)) {
    status = http_status::kForbidden;
    why = "origin not allowed";
  }
  if (status != 0) {
    reject(status, why);
    return;
  }
  protocol_ = std::string(route_->select_protocol(up.protocols));
  accept_ = websocket_accept(up.key);
  evbuffer_drain(in, head_len);  // bytes pipelined after the head stay for the codec
  codec_ = route_->chain().make_codec();
  chain_ = route_->chain().make_chain();
  const BackendAddr& target = route_->config().backend;
  if (target.kind == BackendAddr::Kind::kEcho) {
    open();
    return;
  }
  state_ = State::kConnecting;
  backend_ = bufferevent_socket_new(worker_.base(), -1, BEV_OPT_CLOSE_ON_FREE);
  if (!backend_) fatalx("out of memory for a backend connection");
  bufferevent_setcb(backend_, nullptr, nullptr, on_backend_event, this);
  // The route's handshake_timeout bounds the whole opening handshake, backend connect included.
  timeval now;
  event_base_gettimeofday_cached(worker_.base(), &now);
  uint64_t spent = ms_between(start_, now), budget = route_->limits().handshake_timeout_ms;
  arm_timer(std::min(route_->limits().connect_timeout_ms, budget > spent ? budget - spent : 0));
  std::string err;
  if (!backend_connect(backend_, worker_.dns(), target, err) && state_ == State::kConnecting) {
    reject(http_status::kBadGateway, err.c_str());
    return;
  }
}

// Answers an HTTP error and closes once it is flushed.
void Session::reject(int status, const char* why) {
  status_ = status;
  log_info("%s \"%s\": %d %s: %s", peer_, path_.c_str(), status, http_reason(status), why);
  free_backend();
  state_ = State::kClosing;
  http_write_error(bufferevent_get_output(client_), status, why);
  close_client();
}

// The backend accepted the connection: only now does the client get its 101.
void Session::open() {
  state_ = State::kOpen;
  status_ = http_status::kSwitching;
  write_switching(bufferevent_get_output(client_), accept_, protocol_);
  accept_.clear();
  bufferevent_setwatermark(client_, EV_READ, 0, kInHigh);
  bufferevent_setwatermark(client_, EV_WRITE, kOutLow, 0);
  if (backend_) {
    bufferevent_setcb(backend_, on_backend_read, on_backend_write, on_backend_event, this);
    bufferevent_setwatermark(backend_, EV_READ, 0, kInHigh);
    bufferevent_setwatermark(backend_, EV_WRITE, kOutLow, 0);
    bufferevent_enable(backend_, EV_READ | EV_WRITE);
  }
  log_debug("%s \"%s\": open, route %s, backend %s", peer_, path_.c_str(), route_->name().c_str(),
            route_->config().backend.text.c_str());
  touch();
  next_ping_ = add_ms(last_activity_, route_->limits().ping_interval_ms);
  arm_open_timer();
  process_client();
}

// ---- relaying ----

void Session::process_client() {
  if (state_ != State::kOpen || !client_) return;
  evbuffer* in = bufferevent_get_input(client_);
  DecodeError err = codec_->decode(in, *this);
  if (err.code) {
    fail(err.code, err.why);
    return;
  }
  if (state_ == State::kOpen && blocked()) bufferevent_disable(client_, EV_READ);
}

void Session::process_backend(bool eof) {
  evbuffer* in = bufferevent_get_input(backend_);
  if (state_ != State::kOpen) {
    evbuffer_drain(in, evbuffer_get_length(in));
    return;
  }
  const char* why = "";
  evbuffer* ready = chain_->downstream(in, eof, &why);
  if (!ready) {
    fail(close_code::kInternalError, why);
    return;
  }
  size_t n = evbuffer_get_length(ready);
  if (n) {
    uint8_t op = route_->config().type == MessageType::kText ? kOpText : kOpBinary;
    codec_->encode_data(bufferevent_get_output(client_), ready, n, op, true, true);
  }
  if (out_len(client_) > kOutHigh) bufferevent_disable(backend_, EV_READ);
}

bool Session::blocked() const {
  return out_len(client_) > kOutHigh || out_len(backend_) > kOutHigh;
}

void Session::on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) {
  if (state_ != State::kOpen) {
    evbuffer_drain(src, n);
    return;
  }
  if (route_->config().backend.kind == BackendAddr::Kind::kEcho) {
    codec_->encode_data(bufferevent_get_output(client_), src, n, opcode, first, fin);
    return;
  }
  if (!backend_ || backend_closing_) {
    evbuffer_drain(src, n);
    return;
  }
  const char* why = "";
  if (!chain_->upstream(src, n, bufferevent_get_output(backend_), &why))
    fail(close_code::kInvalidPayload, why);
}

void Session::on_ping(const uint8_t* p, size_t n) {
  if (state_ == State::kOpen) codec_->encode_pong(bufferevent_get_output(client_), p, n);
}

void Session::on_pong(const uint8_t* p, size_t n) {
  if (n == sizeof kPingPayload - 1 && memcmp(p, kPingPayload, n) == 0) ping_outstanding_ = false;
}

void Session::on_close(uint16_t code, std::string_view reason) {
  close_received_ = true;
  if (!close_code_) {
    close_code_ = code;
    close_reason_.assign(reason.data(), reason.size());
  }
  if (state_ == State::kOpen) {
    // Echo the code (section 5.5.1); an empty close gets an empty close.
    send_close(code, "");
    close_backend();
  }
  close_client();
}

// ---- closing ----

// Fails the connection (section 7.1.7): close frame with the code, then TCP close.
void Session::fail(uint16_t code, const char* why) {
  log_info("%s \"%s\": closing with %u: %s", peer_, path_.c_str(), code, why);
  if (!close_code_) {
    close_code_ = code;
    close_reason_ = why;
  }
  if (state_ == State::kOpen) send_close(code, why);
  close_backend();
  close_client();
}

void Session::send_close(uint16_t code, std::string_view reason) {
  if (!close_code_) {
    close_code_ = code;
    close_reason_.assign(reason.data(), reason.size());
  }
  state_ = State::kClosing;
  codec_->encode_close(bufferevent_get_output(client_), code, reason);
}

// Flushes what the client is owed, then half-closes and waits briefly for its EOF.
void Session::close_client() {
  state_ = State::kClosing;
  if (!client_ || client_closing_) return;
  client_closing_ = true;
  evtimer_del(timer_);
  bufferevent_setwatermark(client_, EV_WRITE, 0, 0);
  bufferevent_enable(client_, client_eof_ ? EV_WRITE : EV_READ | EV_WRITE);
  set_write_timeout(client_);
  if (out_len(client_) == 0)
    bufferevent_trigger(client_, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

// Flushes what the backend is owed, then closes it.
void Session::close_backend() {
  if (!backend_ || backend_closing_) return;
  backend_closing_ = true;
  bufferevent_disable(backend_, EV_READ);
  evbuffer* in = bufferevent_get_input(backend_);
  evbuffer_drain(in, evbuffer_get_length(in));
  bufferevent_setwatermark(backend_, EV_WRITE, 0, 0);
  bufferevent_enable(backend_, EV_WRITE);
  set_write_timeout(backend_);
  if (out_len(backend_) == 0)
    bufferevent_trigger(backend_, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

// The client vanished without a close handshake: finish the backend's share and go.
void Session::client_gone(const char* why) {
  if (!close_code_) {
    close_code_ = close_code::kAbnormal;
    close_reason_ = why;
  }
  if (client_eof_ && out_len(client_) > 0)
    close_client();
  else
    free_client();
  close_backend();
  state_ = State::kClosing;
}

// The backend closed or failed: the client gets what was read, then a close frame.
void Session::backend_gone(short what) {
  bool eof = (what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR);
  std::string err = eof ? "" : backend_error(backend_);
  process_backend(true);
  if (state_ != State::kOpen) return;
  if (eof) {
    send_close(close_code::kNormal, "backend closed the connection");
    close_backend();
  } else {
    log_info("%s \"%s\": backend %s failed: %s", peer_, path_.c_str(),
             route_->config().backend.text.c_str(), err.c_str());
    send_close(close_code::kInternalError, "backend connection failed");
    free_backend();
  }
  close_client();
}

void Session::free_client() {
  if (client_) bufferevent_free(client_);
  client_ = nullptr;
}

void Session::free_backend() {
  if (backend_) bufferevent_free(backend_);
  backend_ = nullptr;
}

// Deletes the session once neither socket is left; only called at the end of a callback.
void Session::maybe_done() {
  if (!client_ && !backend_) worker_.session_done(this);
}

// ---- timers ----

void Session::arm_timer(uint64_t ms) {
  timeval tv = add_ms(timeval{0, 0}, ms);
  evtimer_add(timer_, &tv);
}

void Session::touch() {
  event_base_gettimeofday_cached(worker_.base(), &last_activity_);
}

// The open state's single timer serves both idle_timeout and ping_interval.
void Session::arm_open_timer() {
  const Limits& l = route_->limits();
  timeval now;
  event_base_gettimeofday_cached(worker_.base(), &now);
  uint64_t wait = UINT64_MAX;
  if (l.idle_timeout_ms) {
    uint64_t idle = ms_between(last_activity_, now);
    wait = idle >= l.idle_timeout_ms ? 0 : l.idle_timeout_ms - idle;
  }
  if (l.ping_interval_ms) wait = std::min(wait, ms_between(now, next_ping_));
  if (wait != UINT64_MAX) arm_timer(wait);
}

void Session::tick() {
  const Limits& l = route_->limits();
  timeval now;
  event_base_gettimeofday_cached(worker_.base(), &now);
  const char* why = nullptr;
  if (l.idle_timeout_ms && ms_between(last_activity_, now) >= l.idle_timeout_ms)
    why = "idle timeout";
  if (!why && l.ping_interval_ms && ms_between(now, next_ping_) == 0) {
    if (ping_outstanding_) {
      why = "no pong within ping_interval";
    } else {
      codec_->encode_ping(bufferevent_get_output(client_), kPingPayload, sizeof kPingPayload - 1);
      ping_outstanding_ = true;
      next_ping_ = add_ms(now, l.ping_interval_ms);
    }
  }
  if (why) {
    log_info("%s \"%s\": closing with 1001: %s", peer_, path_.c_str(), why);
    send_close(close_code::kGoingAway, why);
    close_backend();
    close_client();
    return;
  }
  arm_open_timer();
}

// ---- access log ----

void Session::write_access_log() {
  timeval now;
  event_base_gettimeofday_cached(worker_.base(), &now);
  uint64_t ms = ms_between(start_, now);
  ::log_access(
      "%s \"%s\" route=%s backend=%s status=%d duration=%llu.%03llus in=%llu out=%llu "
      "close=%u \"%s\"",
      peer_, path_.empty() ? "-" : path_.c_str(), route_ ? route_->name().c_str() : "-",
      route_ ? route_->config().backend.text.c_str() : "-", status_,
      static_cast<unsigned long long>(ms / 1000), static_cast<unsigned long long>(ms % 1000),
      static_cast<unsigned long long>(bytes_in_), static_cast<unsigned long long>(bytes_out_),
      close_code_, close_reason_.c_str());
}

// ---- libevent callbacks ----

void Session::on_client_read(bufferevent* bev, void* ctx) {
  Session* s = static_cast<Session*>(ctx);
  if (s->client_closing_) {
    evbuffer* in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
  } else if (s->state_ == State::kHandshake) {
    s->read_handshake();
  } else if (s->state_ == State::kOpen) {
    s->touch();
    s->process_client();
  }
  s->maybe_done();
}

void Session::on_client_write(bufferevent* bev, void* ctx) {
  Session* s = static_cast<Session*>(ctx);
  if (s->client_closing_) {
    if (out_len(bev) == 0 && s->client_eof_) {
      s->free_client();
    } else if (out_len(bev) == 0 && !s->client_shut_) {
      // Our last bytes are out: half-close, so the client sees EOF after them.
      ::shutdown(bufferevent_getfd(bev), SHUT_WR);
      s->client_shut_ = true;
      s->arm_timer(kCloseWaitMs);
    }
  } else if (s->state_ == State::kOpen && out_len(bev) <= kOutLow) {
    if (s->backend_ && !s->backend_closing_) bufferevent_enable(s->backend_, EV_READ);
    if (!(bufferevent_get_enabled(bev) & EV_READ)) {
      bufferevent_enable(bev, EV_READ);
      s->process_client();
    }
  }
  s->maybe_done();
}

void Session::on_client_event(bufferevent*, short what, void* ctx) {
  Session* s = static_cast<Session*>(ctx);
  if (what & BEV_EVENT_CONNECTED) return;
  // A clean EOF may be a half-close: what the client is still owed goes out first.
  bool eof = (what & BEV_EVENT_EOF) && !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT));
  s->client_eof_ = eof;
  if (s->state_ == State::kOpen) {
    s->client_gone(eof ? "client closed TCP without a close frame" : "client connection failed");
  } else if (eof && s->client_closing_ && out_len(s->client_) > 0) {
    // on_client_write frees it once drained.
  } else {
    s->free_client();
    if (s->state_ != State::kClosing) s->free_backend();
  }
  s->maybe_done();
}

void Session::on_backend_read(bufferevent*, void* ctx) {
  Session* s = static_cast<Session*>(ctx);
  s->touch();
  s->process_backend(false);
  s->maybe_done();
}

void Session::on_backend_write(bufferevent* bev, void* ctx) {
  Session* s = static_cast<Session*>(ctx);
  if (s->backend_closing_) {
    if (out_len(bev) == 0) s->free_backend();
  } else if (s->state_ == State::kOpen && out_len(bev) <= kOutLow && s->client_ &&
             !(bufferevent_get_enabled(s->client_) & EV_READ)) {
    bufferevent_enable(s->client_, EV_READ);
    s->process_client();
  }
  s->maybe_done();
}

void Session::on_backend_event(bufferevent* bev, short what, void* ctx) {
  Session* s = static_cast<Session*>(ctx);
  if (s->state_ == State::kConnecting) {
    if (what & BEV_EVENT_CONNECTED) {
      s->open();
    } else {
      std::string err = backend_error(bev);
      s->reject(http_status::kBadGateway,
                ("backend " + s->route_->config().backend.text + " unreachable: " + err).c_str());
    }
  } else if (s->backend_closing_) {
    s->free_backend();
  } else if (s->state_ == State::kOpen) {
    s->backend_gone(what);
  } else {
    s->free_backend();
  }
  s->maybe_done();
}

void Session::on_timer(int, short, void* ctx) {
  Session* s = static_cast<Session*>(ctx);
  switch (s->state_) {
    case State::kHandshake:
      s->reject(http_status::kRequestTimeout, "request not complete within handshake_timeout");
      break;
    case State::kConnecting:
      s->reject(http_status::kGatewayTimeout, "backend connect timed out");
      break;
    case State::kOpen:
      s->tick();
      break;
    case State::kClosing:
      s->free_client();
      break;
  }
  s->maybe_done();
}
