// Incremental UTF-8 validation (RFC 3629): strict, fails at the first bad byte.
#pragma once

#include <cstddef>
#include <cstdint>

class Utf8Validator {
 public:
  // Checks the next bytes of a stream; false at the first byte that cannot be UTF-8.
  bool feed(const uint8_t* p, size_t n);
  // True when the bytes so far end on a character boundary.
  bool complete() const { return need_ == 0; }
  // Bytes of the trailing, still incomplete character.
  size_t pending() const { return have_; }
  void reset() { need_ = have_ = 0; }

 private:
  uint8_t need_ = 0;               // continuation bytes still expected
  uint8_t have_ = 0;               // bytes of the current character seen
  uint8_t lo_ = 0x80, hi_ = 0xBF;  // allowed range of the next continuation byte
};

// Whole-buffer convenience.
bool utf8_valid(const void* p, size_t n);
