// base64 for hybi-00 binary routes and the base64 subprotocol: frames out are whole base64
// strings; client text is decoded as a stream, so a group may straddle frames.
#pragma once

#include <cstddef>
#include <cstdint>

struct evbuffer;

// Moves n bytes of `in` to `out` as one padded base64 string.
void base64_encode(evbuffer* in, size_t n, evbuffer* out);

// Strict streaming decoder (RFC 4648 section 4, no line breaks): '=' only at the end of a
// group, unused bits zero.
class Base64Decoder {
 public:
  // Decodes p[0..n) into out; false at the first byte that cannot be base64 here.
  bool feed(const uint8_t* p, size_t n, evbuffer* out);
  // True when no partial group is waiting for more characters.
  bool complete() const { return n_ == 0; }

 private:
  uint8_t quad_[4] = {0, 0, 0, 0};
  uint8_t n_ = 0;    // characters of the current group
  uint8_t pad_ = 0;  // of them '='
};
