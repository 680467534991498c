// Frame-aware relaying for ws:// routes: frames pass from one peer to the other untouched
// (payloads moved, never unmasked), while the rules are checked and control frames watched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "codec.h"
#include "frame.h"

struct evbuffer;

// Sees the control frames crossing one direction.
class RelayObserver {
 public:
  virtual ~RelayObserver() = default;
  // A ping or pong (payload unmasked); return false to swallow it instead of forwarding it.
  virtual bool on_relay_control(uint8_t opcode, const uint8_t* p, size_t n) = 0;
  // A valid close frame, about to be forwarded.
  virtual void on_relay_close(uint16_t code, std::string_view reason) = 0;
  // True while the destination is full: the relay stops and resumes on the next call.
  virtual bool relay_blocked() const = 0;
};

class FrameRelay {
 public:
  explicit FrameRelay(const FrameRules& rules) : rules_(rules) {}
  // Moves whole frames (and payload pieces) from `in` to `out`. Returns {} or the close code
  // to fail the connection with.
  DecodeError relay(evbuffer* in, evbuffer* out, RelayObserver& observer);
  // True between frames: a frame of wsgate's own may be written to `out` now.
  bool at_boundary() const { return remaining_ == 0 && !closed_; }
  bool closed() const { return closed_; }
  uint64_t messages() const { return messages_; }
  // For frame_timeout: whether a frame was moved whole since the last call, and whether a data
  // frame's payload is under way.
  bool take_frame_ended() { return std::exchange(frame_ended_, false); }
  bool mid_frame() const { return remaining_ > 0; }

 private:
  FrameRules rules_;
  uint64_t remaining_ = 0;  // payload bytes of the current data frame still to move
  bool fin_ = false;
  bool in_message_ = false;
  uint64_t msg_len_ = 0;
  uint64_t messages_ = 0;
  bool closed_ = false;
  bool frame_ended_ = false;
};
