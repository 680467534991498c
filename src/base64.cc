#include "base64.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include <event2/buffer.h>

#include "buffer.h"

namespace {

// The value of a base64 digit, or -1.
int digit(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

void Base64Encoder::encode(evbuffer* in, size_t n, evbuffer* out, bool fin) {
  // Whole 3-byte groups per block, so padding comes only at the end of the message.
  constexpr size_t kBlock = 3 * 1024;
  uint8_t raw[kBlock];
  uint8_t text[kBlock / 3 * 4 + 1];
  while (n > 0 || (fin && carried_ > 0)) {
    size_t have = carried_;
    memcpy(raw, carry_, have);
    size_t take = std::min(n, kBlock - have);
    evbuffer_remove(in, raw + have, take);
    n -= take;
    have += take;
    size_t whole = have / 3 * 3;
    // Short groups wait for the next piece unless this is the message's end.
    if (n == 0 && fin) whole = have;
    carried_ = static_cast<uint8_t>(have - whole);
    memcpy(carry_, raw + whole, carried_);
    if (whole == 0) break;
    int len = EVP_EncodeBlock(text, raw, static_cast<int>(whole));
    evbuffer_add(out, text, static_cast<size_t>(len));
  }
}

bool Base64Decoder::feed(const uint8_t* p, size_t n, evbuffer* out) {
  uint8_t bytes[3 * 256];
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '=') {
      if (n_ < 2) return false;
      pad_++;
      quad_[n_++] = 0;
    } else {
      int v = digit(p[i]);
      if (v < 0 || pad_ > 0) return false;
      quad_[n_++] = static_cast<uint8_t>(v);
    }
    if (n_ < 4) continue;
    // Padding leaves bits unused; a canonical encoder sets them to zero.
    if ((pad_ == 2 && (quad_[1] & 0x0F)) || (pad_ == 1 && (quad_[2] & 0x03))) return false;
    bytes[o++] = static_cast<uint8_t>(quad_[0] << 2 | quad_[1] >> 4);
    if (pad_ < 2) bytes[o++] = static_cast<uint8_t>(quad_[1] << 4 | quad_[2] >> 2);
    if (pad_ < 1) bytes[o++] = static_cast<uint8_t>(quad_[2] << 6 | quad_[3]);
    n_ = pad_ = 0;
    if (o + 3 > sizeof bytes) {
      evbuffer_add(out, bytes, o);
      o = 0;
    }
  }
  evbuffer_add(out, bytes, o);
  return true;
}

bool Base64Decoder::feed(evbuffer* in, size_t n, evbuffer* out) {
  bool ok = for_each_piece(in, n, [&](const uint8_t* p, size_t len) { return feed(p, len, out); });
  evbuffer_drain(in, n);
  return ok;
}
