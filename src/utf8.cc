#include "utf8.h"

#include <cstring>

bool Utf8Validator::feed(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (need_ == 0) {
      // Text is mostly ASCII: skip it eight bytes at a time.
      while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
      if (i == n) break;
      c = p[i];
      if (c < 0x80) continue;
      lo_ = 0x80;
      hi_ = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        need_ = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        need_ = 2;
        if (c == 0xE0) lo_ = 0xA0;  // overlong
        if (c == 0xED) hi_ = 0x9F;  // surrogates
      } else if (c >= 0xF0 && c <= 0xF4) {
        need_ = 3;
        if (c == 0xF0) lo_ = 0x90;  // overlong
        if (c == 0xF4) hi_ = 0x8F;  // above U+10FFFF
      } else {
        return false;
      }
      have_ = 1;
      continue;
    }
    if (c < lo_ || c > hi_) return false;
    lo_ = 0x80;
    hi_ = 0xBF;
    have_++;
    if (--need_ == 0) have_ = 0;
  }
  return true;
}

bool utf8_valid(const void* p, size_t n) {
  Utf8Validator v;
  return v.feed(static_cast<const uint8_t*>(p), n) && v.complete();
}
