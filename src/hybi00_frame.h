// hybi-00 framing: 0x00 <UTF-8> 0xFF text frames, length-prefixed frames that are read and
// thrown away, and the 0xFF 0x00 closing frame. There are no pings and no close codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "codec.h"
#include "utf8.h"

class Hybi00Codec : public Codec {
 public:
  explicit Hybi00Codec(uint64_t max_message_size) : max_message_(max_message_size) {}
  DecodeError decode(evbuffer* in, MessageSink& sink) override;
  // Text only: the caller has turned binary data into base64 before.
  void encode_data(evbuffer* out, evbuffer* payload, size_t n, uint8_t opcode, bool first,
                   bool fin) override;
  // 0xFF 0x00, whatever the code; nothing inside a frame, which it would cut short.
  void encode_close(evbuffer* out, uint16_t code, std::string_view reason) override;
  void encode_ping(evbuffer*, const void*, size_t) override {}
  void encode_pong(evbuffer*, const void*, size_t) override {}
  bool has_pings() const override { return false; }
  bool take_frame_ended() override { return std::exchange(frame_ended_, false); }
  bool mid_frame() const override { return state_ != State::kType && state_ != State::kClosed; }

 private:
  // kCloseLength is the length of a 0xFF frame, which closes when it is 0.
  enum class State : uint8_t {
    kType,
    kLength,
    kCloseLength,
    kText,
    kSkipText,
    kSkipLength,
    kClosed
  };
  uint64_t max_message_;
  uint64_t len_ = 0;  // of the frame under way; in a text frame, > 0 once a piece went out
  Utf8Validator utf8_;
  State state_ = State::kType;
  bool out_in_frame_ = false;  // we wrote 0x00 and not yet the 0xFF
  bool out_closed_ = false;
  bool frame_ended_ = false;  // since take_frame_ended()
};
