// Test helper: an evbuffer that frees itself, shared by the unit tests.
#pragma once

#include <event2/buffer.h>

#include <cstddef>
#include <string>

class Buf {
 public:
  // Allocates an empty evbuffer.
  Buf() : b_(evbuffer_new()) {}
  // Frees the evbuffer.
  ~Buf() { evbuffer_free(b_); }
  // Owns its evbuffer, so not copyable.
  Buf(const Buf&) = delete;
  // Owns its evbuffer, so not assignable.
  Buf& operator=(const Buf&) = delete;
  // The underlying evbuffer.
  evbuffer* get() const { return b_; }
  // Lets a Buf be passed wherever an evbuffer* is expected.
  operator evbuffer*() const { return b_; }
  // Appends the bytes of `s`.
  void add(const std::string& s) { evbuffer_add(b_, s.data(), s.size()); }
  // Appends `s` one byte per evbuffer chain, as a peer trickling bytes leaves it.
  void add_chain_per_byte(const std::string& s) {
    for (char c : s) {
      evbuffer* one = evbuffer_new();
      evbuffer_add(one, &c, 1);
      evbuffer_add_buffer(b_, one);
      evbuffer_free(one);
    }
  }
  // The number of bytes held.
  size_t size() const { return evbuffer_get_length(b_); }
  // A copy of the bytes held; the buffer is not drained.
  std::string str() const { return contents(b_); }
  // A copy of the bytes in any evbuffer `b`, without draining it.
  static std::string contents(evbuffer* b) {
    std::string s(evbuffer_get_length(b), '\0');
    evbuffer_copyout(b, &s[0], s.size());
    return s;
  }

 private:
  evbuffer* b_;
};

// Where the first byte of `b` lives: the same address after a move means its chain was
// relinked, not copied.
inline const void* first_byte(evbuffer* b) {
  evbuffer_iovec v;
  return evbuffer_peek(b, 1, nullptr, &v, 1) >= 1 ? v.iov_base : nullptr;
}
