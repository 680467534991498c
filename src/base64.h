// base64 for hybi-00 binary routes and the base64 subprotocol. Client text is decoded as a
// stream, so a group may straddle frames; backend bytes are encoded per message, so that each
// message a client receives is a whole base64 string it can decode on its own.
#pragma once

#include <cstddef>
#include <cstdint>

struct evbuffer;

// Streaming encoder: the 1 or 2 bytes that end a piece wait for the message's next piece,
// and `fin` flushes them with padding.
class Base64Encoder {
 public:
  // Moves n bytes of `in` to `out` as base64; with `fin`, ends the string.
  void encode(evbuffer* in, size_t n, evbuffer* out, bool fin);

 private:
  uint8_t carry_[2] = {0, 0};
  uint8_t carried_ = 0;
};

// Moves n bytes of `in` to `out` as one padded base64 string.
inline void base64_encode(evbuffer* in, size_t n, evbuffer* out) {
  Base64Encoder().encode(in, n, out, true);
}

// Strict streaming decoder (RFC 4648 section 4, no line breaks): '=' only at the end of a
// group, unused bits zero. Padded strings may follow one another.
class Base64Decoder {
 public:
  // Decodes p[0..n) into out; false at the first byte that cannot be base64 here.
  bool feed(const uint8_t* p, size_t n, evbuffer* out);
  // Decodes and drains n bytes of `in`; false on bad input.
  bool feed(evbuffer* in, size_t n, evbuffer* out);
  // True when no partial group is waiting for more characters.
  bool complete() const { return n_ == 0; }

 private:
  uint8_t quad_[4] = {0, 0, 0, 0};
  uint8_t n_ = 0;    // characters of the current group
  uint8_t pad_ = 0;  // of them '='
};
