// A message codec: RFC 6455 frames (either side of a connection) or hybi-00 frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

struct evbuffer;

enum Opcode : uint8_t {
  kOpCont = 0x0,
  kOpText = 0x1,
  kOpBinary = 0x2,
  kOpClose = 0x8,
  kOpPing = 0x9,
  kOpPong = 0xA,
};

// WebSocket close codes (RFC 6455 section 7.4), named once.
namespace close_code {
constexpr uint16_t kNormal = 1000;
constexpr uint16_t kGoingAway = 1001;
constexpr uint16_t kProtocolError = 1002;
constexpr uint16_t kUnsupportedData = 1003;
constexpr uint16_t kNoStatus = 1005;
constexpr uint16_t kAbnormal = 1006;
constexpr uint16_t kInvalidPayload = 1007;
constexpr uint16_t kPolicy = 1008;
constexpr uint16_t kTooBig = 1009;
constexpr uint16_t kInternalError = 1011;
}  // namespace close_code

// Receives what a codec decodes. on_data must drain exactly n bytes from src.
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // A piece of a data message; `first` and `fin` mark its ends, `opcode` is the message's type.
  virtual void on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) = 0;
  virtual void on_ping(const uint8_t* p, size_t n) = 0;
  virtual void on_pong(const uint8_t* p, size_t n) = 0;
  // The peer's close; code is kNoStatus when it sent none.
  virtual void on_close(uint16_t code, std::string_view reason) = 0;
  // True while the sink's output is full: the decoder stops and resumes on the next call.
  virtual bool blocked() const { return false; }
};

// Result of a decode step: 0 to go on, or the close code to fail the connection with.
struct DecodeError {
  uint16_t code = 0;
  const char* why = "";
};

class Codec {
 public:
  virtual ~Codec() = default;
  // Consumes what it can of `in`, reporting to `sink`.
  virtual DecodeError decode(evbuffer* in, MessageSink& sink) = 0;
  // Frames n bytes of `payload` (moved, not copied) as a piece of a message into `out`.
  virtual void encode_data(evbuffer* out, evbuffer* payload, size_t n, uint8_t opcode, bool first,
                           bool fin) = 0;
  virtual void encode_close(evbuffer* out, uint16_t code, std::string_view reason) = 0;
  virtual void encode_ping(evbuffer* out, const void* p, size_t n) = 0;
  virtual void encode_pong(evbuffer* out, const void* p, size_t n) = 0;
  // False where the protocol has no pings (hybi-00): ping_interval does not apply.
  virtual bool has_pings() const { return true; }
  // For frame_timeout: whether a frame was decoded whole since the last call (a flag, not a
  // count, so that it fits the decoders' small state), and whether one is partly consumed (a
  // header still waiting in the input does not count: the caller sees those bytes itself).
  virtual bool take_frame_ended() { return false; }
  virtual bool mid_frame() const { return false; }
};
