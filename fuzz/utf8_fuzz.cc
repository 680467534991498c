// Differential fuzzing of the incremental UTF-8 validator against a plain decoder.
#include <cstdint>
#include <cstdlib>

#include "utf8.h"

namespace {

// RFC 3629 by the book: decode each code point, then judge it.
bool reference_valid(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    int len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t split = data[0] % (size);  // feed in two pieces to exercise the carried state
  data++;
  size--;
  if (split > size) split = size;
  bool expected = reference_valid(data, size);
  Utf8Validator v;
  bool got = v.feed(data, split) && v.feed(data + split, size - split) && v.complete();
  if (got != expected) abort();
  if (utf8_valid(data, size) != expected) abort();
  return 0;
}
