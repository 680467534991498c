// Small evbuffer helpers shared by the codecs, the chain and the session.
#pragma once

#include <event2/buffer.h>

#include <cstddef>

// Moves n bytes from src to the end of dst: whole chains are relinked, not copied.
inline void move_bytes(evbuffer* src, evbuffer* dst, size_t n) {
  if (n == evbuffer_get_length(src))
    evbuffer_add_buffer(dst, src);
  else
    evbuffer_remove_buffer(src, dst, n);
}
