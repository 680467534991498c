// Fuzzes streaming base64: arbitrary input to the decoder in input-chosen pieces, and the
// round trip of the same bytes through the encoder.
#include <event2/buffer.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "base64.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t piece = data[0] % 16 + 1;
  data++;
  size--;
  evbuffer* out = evbuffer_new();
  Base64Decoder d;
  for (size_t at = 0; at < size; at += piece)
    if (!d.feed(data + at, std::min(piece, size - at), out)) break;
  if (evbuffer_get_length(out) > size) abort();
  evbuffer_drain(out, evbuffer_get_length(out));

  evbuffer* in = evbuffer_new();
  evbuffer* text = evbuffer_new();
  evbuffer_add(in, data, size);
  base64_encode(in, size, text);
  size_t len = evbuffer_get_length(text);
  if (len != (size + 2) / 3 * 4) abort();
  std::string s(len, '\0');
  evbuffer_remove(text, &s[0], len);
  Base64Decoder back;
  for (size_t at = 0; at < len; at += piece)
    if (!back.feed(reinterpret_cast<const uint8_t*>(s.data()) + at, std::min(piece, len - at), out))
      abort();
  if (!back.complete() || evbuffer_get_length(out) != size) abort();
  std::string raw(size, '\0');
  evbuffer_remove(out, &raw[0], size);
  if (raw != std::string(reinterpret_cast<const char*>(data), size)) abort();
  evbuffer_free(in);
  evbuffer_free(text);
  evbuffer_free(out);
  return 0;
}
