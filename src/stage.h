// The stage contract: what passes between the steps of a pipeline, and what a step answers.
// Client data runs through the stages in order toward the backend; backend data runs through
// them in reverse toward the client (Envoy's FIFO read, LIFO write filters).
#pragma once

#include <cstddef>
#include <cstdint>

#include "codec.h"

struct evbuffer;

// Every piece of data carries its message's metadata, so that a stage may sit anywhere: a
// transcoder needs the type, a streaming encoder the message's end, deflate RSV1.
struct MessageMeta {
  uint8_t opcode = kOpBinary;  // the message's type: kOpText or kOpBinary
  bool first = true;           // the message's first piece
  bool fin = true;             // its last
  bool rsv1 = false;           // permessage-deflate: the message is compressed
};

enum class Flow : uint8_t {
  kContinue,  // taken; more may come
  kPause,     // taken, but the output is full: the source stops until it drains
  kFail,      // bad data: the stage's error() says the close code and why
};

// Where a stage hands its output: the next stage, or the encoder toward a transport.
class StageOut {
 public:
  virtual ~StageOut() = default;
  // Takes (drains) n bytes of `data` as a piece of a message.
  virtual Flow push(evbuffer* data, size_t n, const MessageMeta& m) = 0;
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Client to backend; by default the piece passes unchanged.
  virtual Flow up(evbuffer* data, size_t n, const MessageMeta& m, StageOut& next) {
    return next.push(data, n, m);
  }
  // Backend to client.
  virtual Flow down(evbuffer* data, size_t n, const MessageMeta& m, StageOut& next) {
    return next.push(data, n, m);
  }
  // The backend's stream ended: nothing may stay held back.
  virtual Flow down_end(StageOut&) { return Flow::kContinue; }
  const DecodeError& error() const { return error_; }

 protected:
  Flow fail(uint16_t code, const char* why) {
    error_ = {code, why};
    return Flow::kFail;
  }

 private:
  DecodeError error_;
};
