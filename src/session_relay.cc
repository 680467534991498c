// The open session's data: client and backend bytes through the codecs, the chain or the frame
// relay, with backpressure between the two transports.
#include "session.h"

#include <string.h>

#include <event2/buffer.h>

#include "chain.h"
#include "frame.h"
#include "log.h"
#include "route.h"

void Session::process_client() {
  if (state_ != State::kOpen || !client_) return;
  evbuffer* in = client_->input();
  if (up_) {
    if (!backend_ || backend_closing_) {
      evbuffer_drain(in, evbuffer_get_length(in));
      return;
    }
    DecodeError err = up_->relay(in, backend_->output(), up_watch_);
    if (err.code) {
      fail_relay(true, err);
      return;
    }
    if (up_watch_.relay_blocked()) client_->set_reading(false);
    finish_relayed_close();
    return;
  }
  DecodeError err = codec_->decode(in, *this);
  if (err.code) {
    fail(err.code, err.why);
    return;
  }
  if (state_ == State::kOpen && blocked()) client_->set_reading(false);
}

void Session::process_backend(bool eof) {
  evbuffer* in = backend_->input();
  if (state_ != State::kOpen) {
    evbuffer_drain(in, evbuffer_get_length(in));
    return;
  }
  if (down_) {
    DecodeError err = down_->relay(in, client_->output(), down_watch_);
    if (err.code) {
      fail_relay(false, err);
      return;
    }
    if (down_watch_.relay_blocked()) backend_->set_reading(false);
    if (ping_due_ && down_->at_boundary()) send_ping();
    finish_relayed_close();
    return;
  }
  if (backend_codec_) {
    DecodeError err = backend_codec_->decode(in, backend_sink_);
    if (err.code) {
      fail_relay(false, err);
      return;
    }
    if (backend_sink_.blocked()) backend_->set_reading(false);
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
    uint8_t op = framing_ == Framing::kBinary ? kOpBinary : kOpText;
    codec_->encode_data(client_->output(), ready, n, op, true, true);
    msgs_out_++;
  }
  if (full(client_)) backend_->set_reading(false);
}

bool Session::blocked() const {
  return full(client_) || full(backend_);
}

void Session::on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) {
  if (state_ != State::kOpen) {
    evbuffer_drain(src, n);
    return;
  }
  msgs_in_ += fin;
  if (route_->config().backend.kind == BackendAddr::Kind::kEcho) {
    codec_->encode_data(client_->output(), src, n, opcode, first, fin);
    msgs_out_ += fin;
    return;
  }
  if (!backend_ || backend_closing_) {
    evbuffer_drain(src, n);
    return;
  }
  if (backend_codec_) {
    backend_codec_->encode_data(backend_->output(), src, n, kOpText, first, fin);
    return;
  }
  if (framing_ == Framing::kBase64 && opcode == kOpBinary) {
    evbuffer_drain(src, n);
    fail(close_code::kUnsupportedData, "binary frame where base64 text was agreed");
    return;
  }
  const char* why = "";
  if (!chain_->upstream(src, n, backend_->output(), &why)) fail(close_code::kInvalidPayload, why);
}

void Session::on_ping(const uint8_t* p, size_t n) {
  if (state_ == State::kOpen) codec_->encode_pong(client_->output(), p, n);
}

void Session::on_pong(const uint8_t* p, size_t n) {
  if (n == sizeof kPingPayload - 1 && memcmp(p, kPingPayload, n) == 0) ping_outstanding_ = false;
}

void Session::on_close(uint16_t code, std::string_view reason) {
  close_.note(code, reason);
  if (state_ == State::kOpen) {
    // Echo the code (section 5.5.1); an empty close gets an empty close.
    send_close(code, "");
    send_backend_close(close_code::kNormal, "client closed");
    close_backend();
  }
  close_client();
}

bool Session::RelayWatch::on_relay_control(uint8_t opcode, const uint8_t* p, size_t n) {
  // Pongs to wsgate's own pings end here.
  if (from_client_ && opcode == kOpPong && n == sizeof kPingPayload - 1 &&
      memcmp(p, kPingPayload, n) == 0) {
    s_.ping_outstanding_ = false;
    return false;
  }
  return true;
}

void Session::RelayWatch::on_relay_close(uint16_t code, std::string_view reason) {
  bool first = !s_.client_close_seen_ && !s_.backend_close_seen_;
  (from_client_ ? s_.client_close_seen_ : s_.backend_close_seen_) = true;
  s_.close_.note(code, reason);
  // The other side gets this long to answer with its own close.
  if (first) s_.wait_for_close();
}

bool Session::RelayWatch::relay_blocked() const {
  return full(from_client_ ? s_.backend_ : s_.client_);
}

void Session::BackendSink::on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) {
  evbuffer* out = s_.client_ ? s_.client_->output() : nullptr;
  if (s_.state_ != State::kOpen || !out) {
    evbuffer_drain(src, n);
    return;
  }
  if (opcode == kOpBinary && s_.route_->config().type != MessageType::kBinary) {
    evbuffer_drain(src, n);
    s_.fail_relay(false, {close_code::kUnsupportedData,
                          "binary message for a hybi-00 client on a type = text route"});
    return;
  }
  s_.msgs_out_ += fin;
  if (opcode == kOpText) {
    s_.codec_->encode_data(out, src, n, kOpText, first, fin);
    return;
  }
  // hybi-00 carries text only: the message goes as one base64 string.
  s_.base64_.encode(src, n, s_.scratch_, fin);
  s_.codec_->encode_data(out, s_.scratch_, evbuffer_get_length(s_.scratch_), kOpText, first, fin);
}

void Session::BackendSink::on_ping(const uint8_t* p, size_t n) {
  if (s_.backend_ && !s_.backend_closing_)
    s_.backend_codec_->encode_pong(s_.backend_->output(), p, n);
}

void Session::BackendSink::on_close(uint16_t code, std::string_view reason) {
  s_.backend_close_seen_ = true;
  s_.close_.note(code, reason);
  // The backend's code goes back to it; the client's protocol has no codes to carry.
  s_.send_backend_close(code, "");
  s_.send_close(code, reason);
  s_.close_backend();
  s_.close_client();
}

bool Session::BackendSink::blocked() const {
  return full(s_.client_);
}
