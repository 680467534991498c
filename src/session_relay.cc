// The open session's data: each side's bytes handed to the pipeline, with backpressure between
// the two transports and the pipeline's reports acted on.
#include "session.h"

#include <event2/buffer.h>

#include "log.h"

Pipeline::Io Session::io() const {
  return {client_ && !client_closing_ ? client_->output() : nullptr,
          backend_ && !backend_closing_ ? backend_->output() : nullptr};
}

void Session::process_client() {
  if (state_ != State::kOpen || !client_) return;
  if (after_pipeline(pipeline_->from_client(client_->input(), io()))) return;
  watch_frame();
  if (backed_up(client_) || backed_up(backend_)) client_->set_reading(false);
}

void Session::process_backend(bool eof) {
  evbuffer* in = backend_->input();
  if (state_ != State::kOpen) {
    evbuffer_drain(in, evbuffer_get_length(in));
    return;
  }
  if (after_pipeline(pipeline_->from_backend(in, eof, io()))) return;
  if (backed_up(client_)) backend_->set_reading(false);
  if (ping_due_ && pipeline_->client_at_boundary()) send_ping();
}

// Acts on what the pipeline reported; true when the session is closing.
bool Session::after_pipeline(const Failure& f) {
  if (f.code) {
    fail(f);
    return true;
  }
  if (close_now_) {
    close_now_ = false;
    close_backend();
    close_client();
    return true;
  }
  return state_ != State::kOpen;
}

// Fails the connection (section 7.1.7). The side whose data was bad gets the code; the other
// did nothing wrong and hears 1001 (the backend) or 1011 (the client).
void Session::fail(const Failure& f) {
  bool client = f.by == Side::kClient;
  log_info("%s \"%s\": closing with %u: %s (%s data)", peer_.c_str(), log_escape(path_).c_str(),
           f.code, f.why, client ? "client" : "backend");
  close_.note(f.code, f.why, Closer::kGateway);
  close_both(client ? f.code : close_code::kInternalError, client ? close_code::kGoingAway : f.code,
             f.why);
}

void Session::on_peer_close(Side from, uint16_t code, std::string_view reason, bool answered) {
  bool first = !client_close_seen_ && !backend_close_seen_;
  (from == Side::kClient ? client_close_seen_ : backend_close_seen_) = true;
  close_.note(code, reason, from == Side::kClient ? Closer::kClient : Closer::kBackend);
  count_close(from, code, answered);
  if (answered || (client_close_seen_ && backend_close_seen_))
    close_now_ = true;
  else if (first)
    wait_for_close();  // the other side gets kCloseWaitMs to answer with its own close
}

void Session::on_keepalive_pong() {
  ping_outstanding_ = false;
}

bool Session::full(Side to) const {
  return backed_up(to == Side::kClient ? client_ : backend_);
}
