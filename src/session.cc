#include "session.h"

#include <event2/buffer.h>
#include <event2/event.h>

#include "handshake.h"
#include "http.h"
#include "hybi00.h"
#include "log.h"
#include "route.h"
#include "runtime.h"
#include "session_host.h"

namespace {

uint64_t ms_between(const timeval& a, const timeval& b) {
  int64_t ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_usec - a.tv_usec) / 1000;
  return ms > 0 ? static_cast<uint64_t>(ms) : 0;
}

size_t out_len(const std::unique_ptr<Transport>& t) {
  return t ? evbuffer_get_length(t->output()) : 0;
}

}  // namespace

Session::Session(SessionHost& host, std::shared_ptr<const Runtime> rt,
                 std::unique_ptr<Transport> client, bool over_limit)
    : host_(host),
      rt_(std::move(rt)),
      client_(std::move(client)),
      peer_(client_->info().peer),
      deadlines_(host.base(), on_deadline, this),
      over_limit_(over_limit) {
  event_base_gettimeofday_cached(host_.base(), &start_);
  // The client's address as the transport has it (a PROXY header may have replaced the
  // socket's), answered like max_connections: with an error once the request head is in.
  if (!over_limit_ && rt_->client_limits)
    per_ip_ = client_slot_.admit(rt_->client_limits, client_->info().peer_addr, rt_->per_ip,
                                 monotonic_us());
  client_->set_handler(this);
  // One byte over the cap is enough to tell a too-large request head (hybi-00's key3 follows).
  client_->set_read_limit(kMaxRequestHead + kHybi00Key3 + 1);
  deadlines_.set(Deadlines::kHandshake, rt_->config.limits.handshake_timeout_ms);
}

Session::~Session() {
  free_client();  // keeps the client's byte counts
  free_backend();
  write_access_log();
  WorkerCounters& c = host_.counters();
  WorkerCounters::add(c.bytes_in, bytes_in_);
  WorkerCounters::add(c.bytes_out, bytes_out_);
  WorkerCounters::add(c.messages_in, pipeline_ ? pipeline_->messages_in() : 0);
  WorkerCounters::add(c.messages_out, pipeline_ ? pipeline_->messages_out() : 0);
  count_end();
}

void Session::shutdown() {
  switch (state_) {
    case State::kHandshake:
    case State::kConnecting:
      reject(http_status::kUnavailable, "server is shutting down");
      break;
    case State::kOpen:
      close_both(close_code::kGoingAway, close_code::kGoingAway, "server shutting down");
      break;
    case State::kBackendHandshake:
      reject(http_status::kUnavailable, "server is shutting down");
      break;
    case State::kErrorBody:
    case State::kClosing:
      break;
  }
  maybe_done();
}

// ---- closing ----

// Sends close frames where a frame may go now (never inside a frame being relayed), then
// closes both sides once they are flushed.
void Session::close_both(uint16_t to_client, uint16_t to_backend, const char* why) {
  if (state_ == State::kOpen) send_close(to_client, why);
  send_backend_close(to_backend, why);
  close_backend();
  close_client();
}

// wsgate's own close toward a WebSocket backend; nothing for a bridge.
void Session::send_backend_close(uint16_t code, const char* why) {
  if (backend_ && !backend_closing_ && pipeline_)
    pipeline_->close_backend(backend_->output(), code, why);
}

void Session::send_close(uint16_t code, std::string_view reason, Closer by) {
  close_.note(code, reason, by);
  state_ = State::kClosing;
  if (client_ && pipeline_) pipeline_->close_client(client_->output(), code, reason);
  if (client_ && pipeline_) count_close(Side::kBackend, code, false);  // wsgate's own, sent
}

// Flushes what the client is owed, then half-closes and waits briefly for its EOF.
void Session::close_client() {
  state_ = State::kClosing;
  if (!client_ || client_closing_) return;
  client_closing_ = true;
  deadlines_.clear_all();
  client_->set_reading(true);  // to see the client's EOF; what it sends now is dropped
  client_->shutdown_write(kFlushTimeoutSec);
}

// Flushes what the backend is owed, then closes it.
void Session::close_backend() {
  if (!backend_ || backend_closing_) return;
  backend_closing_ = true;
  backend_->set_reading(false);
  evbuffer* in = backend_->input();
  evbuffer_drain(in, evbuffer_get_length(in));
  backend_->shutdown_write(kFlushTimeoutSec);
}

// The client vanished without a close handshake: finish the backend's share and go.
void Session::client_gone(const char* why) {
  if (!client_close_seen_) send_backend_close(close_code::kGoingAway, "client went away");
  close_.note(close_code::kAbnormal, why, Closer::kClient);
  if (client_eof_ && out_len(client_) > 0)
    close_client();
  else
    free_client();
  close_backend();
  state_ = State::kClosing;
}

// The backend closed or failed: the client gets what was read, then a close frame.
void Session::backend_gone(TransportEvent ev) {
  bool eof = ev == TransportEvent::kEof;
  std::string err = eof ? "" : backend_->error();
  process_backend(true);
  if (state_ != State::kOpen) return;
  if (pipeline_->relays_closes()) {
    if (!backend_close_seen_)
      send_close(eof ? close_code::kGoingAway : close_code::kInternalError,
                 eof ? "backend went away" : "backend connection failed", Closer::kBackend);
    free_backend();
    close_client();
    return;
  }
  if (eof) {
    send_close(close_code::kNormal, "backend closed the connection", Closer::kBackend);
    close_backend();
  } else {
    log_info("%s \"%s\": backend %s failed: %s", peer_.c_str(), log_escape(path_).c_str(),
             route_->config().backend.text.c_str(), err.c_str());
    send_close(close_code::kInternalError, "backend connection failed", Closer::kBackend);
    free_backend();
  }
  close_client();
}

void Session::free_client() {
  if (!client_) return;
  bytes_in_ = client_->bytes_read();
  bytes_out_ = client_->bytes_written();
  client_info_ = client_->take_info();
  client_.reset();
}

void Session::free_backend() {
  backend_.reset();
}

// Deletes the session once neither socket is left; only called at the end of a callback.
// Before that, what the callback queued goes out.
void Session::maybe_done() {
  if (client_) client_->flush();
  if (backend_) backend_->flush();
  if (!client_ && !backend_) host_.session_done(this);
}

// ---- deadlines ----

void Session::touch() {
  last_activity_ms_ = deadlines_.now_ms();
}

// One side closed: the other gets kCloseWaitMs to answer; idling and pinging are over.
void Session::wait_for_close() {
  deadlines_.clear(Deadlines::kIdle);
  deadlines_.clear(Deadlines::kPing);
  deadlines_.set(Deadlines::kCloseWait, kCloseWaitMs);
}

// idle_timeout counts from the last byte read; activity only moves a timestamp, and the
// deadline is pushed back lazily here.
void Session::check_idle() {
  uint64_t limit = route_->limits().idle_timeout_ms, idle = deadlines_.now_ms() - last_activity_ms_;
  if (idle < limit) {
    deadlines_.set(Deadlines::kIdle, limit - idle);
    return;
  }
  log_info("%s \"%s\": closing with 1001: idle timeout", peer_.c_str(), log_escape(path_).c_str());
  close_both(close_code::kGoingAway, close_code::kGoingAway, "idle timeout");
}

void Session::check_ping() {
  if (ping_outstanding_) {
    // A client still taking our data is alive, even if its pong waits behind that data; one
    // that has taken the ping itself, or nothing at all, and sent no pong is dead.
    uint64_t taken = client_->bytes_written();
    if (taken == bytes_out_at_ping_ || taken >= ping_end_) {
      log_info("%s \"%s\": closing with 1001: no pong within ping_interval", peer_.c_str(),
               log_escape(path_).c_str());
      close_both(close_code::kGoingAway, close_code::kGoingAway, "no pong within ping_interval");
      return;
    }
    bytes_out_at_ping_ = taken;
    deadlines_.set(Deadlines::kPing, route_->limits().ping_interval_ms);
  } else if (!pipeline_->client_at_boundary()) {
    ping_due_ = true;  // a relayed frame is half through: process_backend pings after it
  } else {
    send_ping();
  }
}

void Session::send_ping() {
  ping_due_ = false;
  pipeline_->ping_client(client_->output());
  ping_outstanding_ = true;
  bytes_out_at_ping_ = client_->bytes_written();
  ping_end_ = bytes_out_at_ping_ + evbuffer_get_length(client_->output());
  deadlines_.set(Deadlines::kPing, route_->limits().ping_interval_ms);
}

// ---- access log ----

void Session::write_access_log() {
  if (!log_access_enabled()) return;
  timeval now;
  event_base_gettimeofday_cached(host_.base(), &now);
  static const ConnInfo kNone;
  const ConnInfo& who = client_ ? client_->info() : client_info_ ? *client_info_ : kNone;
  AccessEntry e;
  e.client = peer_;
  e.target = path_;
  if (route_) {
    e.route = route_->name();
    e.backend = route_->config().backend.text;
  }
  e.origin = origin_;
  e.protocol = protocol_;
  e.extensions = extensions_;
  e.status = status_;
  e.duration_ms = ms_between(start_, now);
  e.bytes_in = bytes_in_;
  e.bytes_out = bytes_out_;
  e.msgs_in = pipeline_ ? pipeline_->messages_in() : 0;
  e.msgs_out = pipeline_ ? pipeline_->messages_out() : 0;
  e.close_code = close_.code;
  e.close_reason = close_.reason;
  e.closed_by = close_.by;
  e.tls = who.tls;
  e.tls_version = who.tls_version;
  e.sni = who.sni;
  if (rt_->config.access_log_format == AccessLogFormat::kJson)
    log_access_line(access_line_json(e, log_time()), false);
  else
    log_access_line(access_line_text(e), true);
}

// ---- transport callbacks ----

void Session::on_readable(Transport& t) {
  if (&t == client_.get())
    client_readable();
  else
    backend_readable();
  maybe_done();
}

void Session::on_event(Transport& t, TransportEvent ev) {
  if (&t == client_.get())
    client_event(ev);
  else
    backend_event(ev);
  maybe_done();
}

// A side's output drained after backpressure: the paused side reads again.
void Session::on_drained(Transport& t) {
  bool open = state_ == State::kOpen;
  if (&t == client_.get() && (open || state_ == State::kErrorBody) && !client_closing_) {
    if (backend_ && !backend_closing_) {
      backend_->set_reading(true);
      // A relay stops inside a frame when the client is full; its rest is still buffered.
      if (open) process_backend(false);
    }
    if (client_ && open) {
      client_->set_reading(true);
      process_client();
    }
  } else if (&t == backend_.get() && open && !backend_closing_ && client_) {
    client_->set_reading(true);
    process_client();
  }
  maybe_done();
}

void Session::client_readable() {
  if (client_closing_) {
    evbuffer* in = client_->input();
    evbuffer_drain(in, evbuffer_get_length(in));
  } else if (state_ == State::kHandshake) {
    read_handshake();
  } else if (state_ == State::kOpen) {
    touch();
    process_client();
  }
}

void Session::client_event(TransportEvent ev) {
  if (ev == TransportEvent::kShutdown) {
    // Our last bytes and FIN are out: wait briefly for the client's EOF.
    if (client_eof_)
      free_client();
    else
      deadlines_.set(Deadlines::kCloseWait, kCloseWaitMs);
    return;
  }
  const ConnInfo& who = client_->info();
  if (ev == TransportEvent::kError && who.tls && who.tls_version.empty()) {
    WorkerCounters::add(host_.counters().tls_failures);
    counter_add(host_.counters().tls_failure_kinds[static_cast<int>(who.tls_failure)]);
  }
  // A clean EOF may be a half-close: what the client is still owed goes out first.
  bool eof = ev == TransportEvent::kEof;
  client_eof_ = eof;
  if (state_ == State::kOpen) {
    client_gone(eof ? "client closed TCP without a close frame" : "client connection failed");
  } else if (eof && client_closing_ && out_len(client_) > 0) {
    // Freed once the output is out (kShutdown).
  } else {
    free_client();
    if (state_ != State::kClosing) free_backend();
  }
}

void Session::backend_readable() {
  touch();
  if (state_ == State::kBackendHandshake)
    read_backend_answer();
  else if (state_ == State::kErrorBody)
    pipe_error_body();
  else
    process_backend(false);
}

void Session::backend_event(TransportEvent ev) {
  if (state_ == State::kConnecting) {
    if (ev == TransportEvent::kConnected)
      host_.counters().backend_connect.observe(monotonic_us() - connect_start_us_);
    if (ev == TransportEvent::kConnected && route_->config().backend.websocket()) {
      state_ = State::kBackendHandshake;
      backend_->set_read_limit(kMaxRequestHead + 1);
      deadlines_.clear(Deadlines::kConnect);
    } else if (ev == TransportEvent::kConnected) {
      open();
    } else {
      std::string err = backend_->error();
      reject(http_status::kBadGateway,
             ("backend " + route_->config().backend.text + " unreachable: " + err).c_str());
    }
  } else if (state_ == State::kBackendHandshake) {
    // A TLS backend may refuse only now, e.g. TLS 1.3 rejecting the client certificate.
    std::string why = ev == TransportEvent::kEof
                          ? "backend closed the connection instead of answering"
                          : "backend connection failed instead of answering: " + backend_->error();
    reject(http_status::kBadGateway, why.c_str());
  } else if (state_ == State::kErrorBody) {
    free_backend();
    close_client();
  } else if (backend_closing_) {
    free_backend();
  } else if (state_ == State::kOpen) {
    backend_gone(ev);
  } else {
    free_backend();
  }
}

void Session::on_deadline(void* ctx, Deadlines::Kind k) {
  Session* s = static_cast<Session*>(ctx);
  State st = s->state_;
  switch (k) {
    case Deadlines::kHandshake:
      if (st == State::kHandshake) {
        s->reject(http_status::kRequestTimeout, "request not complete within handshake_timeout");
      } else if (st == State::kConnecting) {
        s->reject(http_status::kGatewayTimeout, "backend connect timed out");
      } else if (st == State::kBackendHandshake) {
        s->reject(http_status::kGatewayTimeout, "backend did not answer the upgrade in time");
      } else if (st == State::kErrorBody) {
        s->free_backend();
        s->close_client();
      }
      break;
    case Deadlines::kConnect:
      if (st == State::kConnecting)
        s->reject(http_status::kGatewayTimeout, "backend connect timed out");
      break;
    case Deadlines::kIdle:
      if (st == State::kOpen) s->check_idle();
      break;
    case Deadlines::kPing:
      if (st == State::kOpen) s->check_ping();
      break;
    case Deadlines::kFrame:
      if (st == State::kOpen) s->check_frame();
      break;
    case Deadlines::kCloseWait:
      if (st == State::kOpen)
        s->close_both(close_code::kGoingAway, close_code::kGoingAway, "no close answer in time");
      else if (st == State::kClosing)
        s->free_client();
      break;
    case Deadlines::kCount:
      break;
  }
  s->maybe_done();
}
