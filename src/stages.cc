#include "stages.h"

#include <event2/buffer.h>

#include "buffer.h"
#include "log.h"

Flow Utf8HoldBack::down(evbuffer* data, size_t n, const MessageMeta& m, StageOut& next) {
  bool valid =
      for_each_piece(data, n, [this](uint8_t* p, size_t len) { return utf8_.feed(p, len); });
  if (!valid) {
    evbuffer_drain(data, n);
    return fail(close_code::kInternalError, "backend sent invalid UTF-8 on a text route");
  }
  // The held start of a character goes in front of its rest; at most 3 bytes are copied.
  if (held_n_) evbuffer_prepend(data, held_, held_n_);
  size_t total = n + held_n_, ready = total - utf8_.pending();
  held_n_ = static_cast<uint8_t>(total - ready);
  Flow f = ready ? next.push(data, ready, m) : Flow::kContinue;
  if (held_n_) evbuffer_remove(data, held_, held_n_);
  return f;
}

Flow Utf8HoldBack::down_end(StageOut&) {
  if (!utf8_.complete())
    return fail(close_code::kInternalError,
                "backend closed inside a UTF-8 character on a text route");
  return Flow::kContinue;
}

Base64Stage::Base64Stage(Mode mode) : mode_(mode), scratch_(evbuffer_new()) {
  if (!scratch_) fatalx("out of memory for a new connection");
}

Base64Stage::~Base64Stage() {
  evbuffer_free(scratch_);
}

Flow Base64Stage::up(evbuffer* data, size_t n, const MessageMeta& m, StageOut& next) {
  if (mode_ == Mode::kBinaryOnly) return next.push(data, n, m);
  if (m.opcode == kOpBinary) {
    evbuffer_drain(data, n);
    return fail(close_code::kUnsupportedData, "binary frame where base64 text was agreed");
  }
  if (!decoder_.feed(data, n, scratch_))
    return fail(close_code::kInvalidPayload, "client sent invalid base64");
  MessageMeta out = m;
  out.opcode = kOpBinary;
  size_t len = evbuffer_get_length(scratch_);
  return len || m.fin ? next.push(scratch_, len, out) : Flow::kContinue;
}

Flow Base64Stage::down(evbuffer* data, size_t n, const MessageMeta& m, StageOut& next) {
  if (mode_ == Mode::kBinaryOnly && m.opcode != kOpBinary) return next.push(data, n, m);
  encoder_.encode(data, n, scratch_, m.fin);
  MessageMeta out = m;
  out.opcode = kOpText;
  return next.push(scratch_, evbuffer_get_length(scratch_), out);
}

Flow TextOnly::down(evbuffer* data, size_t n, const MessageMeta& m, StageOut& next) {
  if (m.opcode != kOpBinary) return next.push(data, n, m);
  evbuffer_drain(data, n);
  return fail(close_code::kUnsupportedData,
              "binary message for a hybi-00 client on a type = text route");
}
