#include "hybi00_frame.h"

#include <event2/buffer.h>

#include <algorithm>

#include "buffer.h"

DecodeError Hybi00Codec::decode(evbuffer* in, MessageSink& sink) {
  for (;;) {
    size_t avail = evbuffer_get_length(in);
    switch (state_) {
      case State::kClosed:
        evbuffer_drain(in, avail);
        return {};
      case State::kType:
        if (avail == 0) return {};
        evbuffer_remove(in, &type_, 1);
        len_ = 0;
        started_ = false;
        utf8_.reset();
        // The draft's two frame kinds: high bit set means a length follows, else 0xFF ends it.
        state_ = (type_ & 0x80) ? State::kLength : type_ == 0x00 ? State::kText : State::kSkipText;
        break;
      case State::kLength: {
        if (avail == 0) return {};
        uint8_t b;
        evbuffer_remove(in, &b, 1);
        len_ = len_ * 128 + (b & 0x7F);
        if (len_ > max_message_)
          return {close_code::kTooBig, "hybi-00 frame exceeds max_message_size"};
        if (b & 0x80) break;
        if (type_ == 0xFF && len_ == 0) {
          state_ = State::kClosed;
          sink.on_close(close_code::kNoStatus, {});
          break;
        }
        state_ = State::kSkipLength;
        break;
      }
      case State::kSkipLength: {
        // Length-prefixed frames carry no data this draft defines: read and thrown away.
        size_t n = static_cast<size_t>(std::min<uint64_t>(len_, avail));
        evbuffer_drain(in, n);
        len_ -= n;
        if (len_ > 0) return {};
        state_ = State::kType;
        break;
      }
      case State::kText:
      case State::kSkipText: {
        if (avail == 0) return {};
        if (state_ == State::kText && sink.blocked()) return {};
        evbuffer_ptr end = evbuffer_search(in, "\xff", 1, nullptr);
        bool fin = end.pos >= 0;
        size_t n = fin ? static_cast<size_t>(end.pos) : avail;
        if (len_ + n > max_message_)
          return {close_code::kTooBig, "hybi-00 frame exceeds max_message_size"};
        len_ += n;
        if (state_ == State::kSkipText) {
          evbuffer_drain(in, n + fin);
        } else {
          if (!for_each_piece(in, n, [&](const uint8_t* p, size_t k) { return utf8_.feed(p, k); }))
            return {close_code::kInvalidPayload, "invalid UTF-8 in a hybi-00 text frame"};
          if (fin && !utf8_.complete())
            return {close_code::kInvalidPayload, "hybi-00 text frame ends inside a UTF-8 sequence"};
          // An empty, unfinished piece carries nothing worth reporting.
          if (n > 0 || fin) {
            sink.on_data(in, n, kOpText, !started_, fin);
            started_ = true;
          }
          if (fin) evbuffer_drain(in, 1);
        }
        if (!fin) return {};
        state_ = State::kType;
        break;
      }
    }
  }
}

void Hybi00Codec::encode_data(evbuffer* out, evbuffer* payload, size_t n, uint8_t /*opcode*/,
                              bool first, bool fin) {
  if (out_closed_) {
    evbuffer_drain(payload, n);
    return;
  }
  if (first) evbuffer_add(out, "\x00", 1);
  if (n) move_bytes(payload, out, n);
  if (fin) evbuffer_add(out, "\xff", 1);
  out_in_frame_ = !fin;
}

void Hybi00Codec::encode_close(evbuffer* out, uint16_t /*code*/, std::string_view /*reason*/) {
  if (out_closed_ || out_in_frame_) return;
  out_closed_ = true;
  evbuffer_add(out, "\xff\x00", 2);
}
