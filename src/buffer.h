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
inline void move_bytes(evbuffer* src, evbuffer* dst, size_t n) {
  if (n <= kSmallMove) {
    uint8_t tmp[kSmallMove];
    evbuffer_remove(src, tmp, n);
    evbuffer_add(dst, tmp, n);
  } else if (n == evbuffer_get_length(src)) {
    evbuffer_add_buffer(dst, src);
  } else {
    evbuffer_remove_buffer(src, dst, n);
  }
}
