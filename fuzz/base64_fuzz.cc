// Fuzzes streaming base64: arbitrary input to the decoder in input-chosen pieces, and the
// round trip of the same bytes through the one-shot encoder and through a streaming
// Base64Encoder fed in input-chosen pieces, which must write the same string.
#include <event2/buffer.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "base64.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t piece = data[0] % 16 + 1;
  // The streaming encoder's pieces: 0 to 7 bytes (times 517 if bit 3 is set), in a cycle that
  // starts where the high bits say.
  size_t enc_piece = data[0] >> 4;
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

  // The same bytes through the streaming encoder in pieces (empty ones too), fin at the end.
  Base64Encoder enc;
  evbuffer_add(in, data, size);
  size_t done = 0;
  for (unsigned k = 0; done < size; k++) {
    size_t n = (enc_piece + k * 5) % 8;
    if (enc_piece & 8) n *= 517;  // pieces that straddle the encoder's 3 KiB blocks
    n = std::min(n, size - done);
    enc.encode(in, n, text, false);
    done += n;
    if (evbuffer_get_length(in) != size - done) abort();
    // Everything that makes whole groups is out; at most 2 bytes wait.
    if (evbuffer_get_length(text) != done / 3 * 4) abort();
  }
  enc.encode(in, 0, text, true);
  if (evbuffer_get_length(in) != 0 || evbuffer_get_length(text) != len) abort();
  std::string streamed(len, '\0');
  evbuffer_remove(text, &streamed[0], len);
  if (streamed != s) abort();
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
