// RFC 6455 framing (section 5): a streaming decoder and the server-side encoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "codec.h"
#include "utf8.h"

constexpr size_t kMaxFrameHeader = 14;
constexpr size_t kMaxControlPayload = 125;

// Writes a frame header into out; returns its length. A non-null mask sets the MASK bit.
size_t encode_frame_header(uint8_t* out, uint8_t opcode, bool fin, uint64_t len,
                           const uint8_t* mask = nullptr);
// True for codes a peer may send in a close frame (section 7.4).
bool close_code_valid(uint16_t code);

// A frame header as read off the wire.
struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;  // the three reserved bits
  uint8_t opcode = 0;
  bool masked = false;
  uint8_t mask[4] = {0, 0, 0, 0};
  uint64_t len = 0;
  size_t size = 0;  // bytes of the header itself
};

// What one direction of a connection is held to.
struct FrameRules {
  bool masked;           // client-to-server frames must be masked, the others must not
  bool compressed;       // permessage-deflate was agreed: RSV1 may mark a message
  uint64_t max_message;  // larger messages fail with 1009
};

// Reads and checks the frame header at the front of `in` without consuming it. `in_message`
// and `msg_len` describe the fragmented message under way. Sets need_more if it is incomplete.
DecodeError read_frame_header(evbuffer* in, const FrameRules& rules, bool in_message,
                              uint64_t msg_len, FrameHeader& f, bool& need_more);
// Checks a close frame's payload: its code and the reason's UTF-8 (section 5.5.1, 7.4).
DecodeError check_close_payload(const uint8_t* p, size_t n, uint16_t& code,
                                std::string_view& reason);

// A control frame as a server sends it: unmasked; the payload is cut at kMaxControlPayload.
void encode_server_control(evbuffer* out, uint8_t op, const void* p, size_t n);
// A control frame as a client sends it: masked with a fresh random key.
void encode_masked_control(evbuffer* out, uint8_t op, const void* p, size_t n);
// A close frame's payload: the code and as much of the reason as fits, cut on a character
// boundary; nothing for kNoStatus. `p` holds kMaxControlPayload bytes.
void close_payload(uint16_t code, std::string_view reason, uint8_t* p, size_t& n);

// Decodes frames in place: a client's payloads are unmasked inside the evbuffer and moved on.
// With `masked` false it reads a server's frames, for wsgate's own client side.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint64_t max_message_size, bool masked = true)
      : max_message_(max_message_size), masked_(masked) {}
  DecodeError decode(evbuffer* in, MessageSink& sink);
  bool closed() const { return state_ == State::kClosed; }
  bool take_frame_ended() { return std::exchange(frame_ended_, false); }
  bool mid_frame() const { return state_ == State::kPayload || state_ == State::kControl; }

 private:
  enum class State { kHeader, kPayload, kControl, kClosed };
  DecodeError parse_header(evbuffer* in, bool& need_more);
  DecodeError payload(evbuffer* in, MessageSink& sink);
  DecodeError control(evbuffer* in, MessageSink& sink);
  void unmask(evbuffer* in, size_t n);

  uint64_t max_message_;
  bool masked_;
  State state_ = State::kHeader;
  uint8_t opcode_ = 0;  // of the current frame
  bool fin_ = false;
  uint8_t mask_[4] = {0, 0, 0, 0};
  uint8_t mask_pos_ = 0;
  uint64_t remaining_ = 0;  // payload bytes of the current frame not yet consumed
  bool in_message_ = false;
  bool message_started_ = false;  // a piece of the current message went to the sink
  uint8_t msg_opcode_ = 0;
  uint64_t msg_len_ = 0;
  Utf8Validator utf8_;
  uint8_t ctrl_[kMaxControlPayload];
  size_t ctrl_len_ = 0;
  bool frame_ended_ = false;  // since take_frame_ended()
};

// The RFC 6455 codec. A server reads masked frames and writes plain ones; a client (wsgate
// toward a ws:// backend for a hybi-00 client) the other way round.
class Rfc6455Codec : public Codec {
 public:
  enum class Role { kServer, kClient };
  explicit Rfc6455Codec(uint64_t max_message_size, Role role = Role::kServer)
      : decoder_(max_message_size, role == Role::kServer), client_(role == Role::kClient) {}
  DecodeError decode(evbuffer* in, MessageSink& sink) override { return decoder_.decode(in, sink); }
  void encode_data(evbuffer* out, evbuffer* payload, size_t n, uint8_t opcode, bool first,
                   bool fin) override;
  void encode_close(evbuffer* out, uint16_t code, std::string_view reason) override;
  void encode_ping(evbuffer* out, const void* p, size_t n) override;
  void encode_pong(evbuffer* out, const void* p, size_t n) override;
  bool take_frame_ended() override { return decoder_.take_frame_ended(); }
  bool mid_frame() const override { return decoder_.mid_frame(); }

 private:
  void encode_control(evbuffer* out, uint8_t op, const void* p, size_t n);
  FrameDecoder decoder_;
  bool client_;
};
