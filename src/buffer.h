// Small evbuffer helpers shared by the codecs, the chain and the session.
#pragma once

#include <event2/buffer.h>

#include <cstddef>
#include <cstdint>

// Below this, bytes are copied into the destination's last chain instead of relinking chains:
// relinking a chain that holds a few bytes would cost a whole allocation per piece, and a peer
// sending tiny fragments could make memory per connection grow a thousandfold.
constexpr size_t kSmallMove = 2048;

// Moves n bytes from src to the end of dst: whole chains are relinked, small pieces copied.
// All of src into an empty dst is relinked whatever its size: no copy, no allocation, and dst
// holds no more chains than src did.
inline void move_bytes(evbuffer* src, evbuffer* dst, size_t n) {
  if (n == evbuffer_get_length(src) && evbuffer_get_length(dst) == 0) {
    evbuffer_add_buffer(dst, src);
  } else if (n <= kSmallMove) {
    uint8_t tmp[kSmallMove];
    evbuffer_remove(src, tmp, n);
    evbuffer_add(dst, tmp, n);
  } else if (n == evbuffer_get_length(src)) {
    evbuffer_add_buffer(dst, src);
  } else {
    evbuffer_remove_buffer(src, dst, n);
  }
}

// Calls f(p, len) on the first n bytes of `in`, piece by piece and in place (f may change
// them); stops and returns false as soon as f does.
template <typename F>
bool for_each_piece(evbuffer* in, size_t n, F f) {
  constexpr int kVecs = 16;
  evbuffer_iovec v[kVecs];
  evbuffer_ptr at;
  evbuffer_ptr_set(in, &at, 0, EVBUFFER_PTR_SET);
  size_t done = 0;
  while (done < n) {
    int nv = evbuffer_peek(in, static_cast<ev_ssize_t>(n - done), &at, v, kVecs);
    if (nv <= 0) break;
    for (int i = 0; i < nv && i < kVecs && done < n; i++) {
      size_t len = v[i].iov_len < n - done ? v[i].iov_len : n - done;
      if (!f(static_cast<uint8_t*>(v[i].iov_base), len)) return false;
      done += len;
    }
    evbuffer_ptr_set(in, &at, done, EVBUFFER_PTR_SET);
  }
  return true;
}
