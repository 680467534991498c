#include "relay.h"

#include <string.h>

#include <algorithm>

#include <event2/buffer.h>

#include "buffer.h"

DecodeError FrameRelay::relay(evbuffer* in, evbuffer* out, RelayObserver& observer) {
  while (!closed_) {
    if (remaining_ > 0) {
      if (observer.relay_blocked()) return {};
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, evbuffer_get_length(in)));
      if (n == 0) return {};
      move_bytes(in, out, n);
      remaining_ -= n;
      frame_ended_ |= remaining_ == 0;
      if (remaining_ == 0 && fin_) {
        in_message_ = false;
        messages_++;
      }
      continue;
    }
    FrameHeader f;
    bool need_more = false;
    DecodeError err = read_frame_header(in, rules_, in_message_, msg_len_, f, need_more);
    if (err.code || need_more) return err;
    if (!(f.opcode & 0x08)) {
      if (f.opcode != kOpCont) msg_len_ = 0;
      msg_len_ += f.len;
      in_message_ = true;
      fin_ = f.fin;
      // The header goes with the payload that is here, in one move: a frame that is all of the
      // input then relinks its chain rather than being copied into a new one.
      uint64_t here = observer.relay_blocked()
                          ? 0
                          : std::min<uint64_t>(f.len, evbuffer_get_length(in) - f.size);
      move_bytes(in, out, f.size + static_cast<size_t>(here));
      remaining_ = f.len - here;
      frame_ended_ |= remaining_ == 0;
      if (remaining_ == 0 && fin_) {
        in_message_ = false;
        messages_++;
      }
      continue;
    }
    // A control frame is small: take it whole, look at it, then forward or swallow it.
    size_t total = f.size + static_cast<size_t>(f.len);
    if (evbuffer_get_length(in) < total) return {};
    uint8_t frame[kMaxFrameHeader + kMaxControlPayload];
    evbuffer_copyout(in, frame, total);
    uint8_t* p = frame + f.size;
    size_t n = static_cast<size_t>(f.len);
    if (f.masked)
      for (size_t i = 0; i < n; i++) p[i] ^= f.mask[i & 3];
    bool forward = true;
    if (f.opcode == kOpClose) {
      uint16_t code;
      std::string_view reason;
      err = check_close_payload(p, n, code, reason);
      if (err.code) return err;
      closed_ = true;
      observer.on_relay_close(code, reason);
    } else {
      forward = observer.on_relay_control(f.opcode, p, n);
    }
    frame_ended_ = true;
    if (forward)
      move_bytes(in, out, total);
    else
      evbuffer_drain(in, total);
  }
  evbuffer_drain(in, evbuffer_get_length(in));  // nothing may follow a close
  return {};
}
