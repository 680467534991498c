// Fuzzes the upgrade request parser and checks through the same path the session uses, for
// RFC 6455 and hybi-00 requests; the search for the head's end also fed in pieces.
#include <event2/buffer.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "handshake.h"
#include "hybi00.h"

namespace {

// Feeds the input in pieces to the resumed search, as a session reads it: after each piece the
// answer must be the one-shot answer for the bytes so far, which `head` (the whole input's)
// determines.
void check_resumed(const uint8_t* data, size_t size, long head) {
  size_t chunk = size % 13 + 1;
  bool chains = size & 16;  // each piece in a chain of its own, or copied into the last one
  evbuffer* in = evbuffer_new();
  evbuffer* piece = evbuffer_new();
  size_t scanned = 0;
  for (size_t at = 0; at < size;) {
    size_t n = std::min(chunk, size - at);
    evbuffer_add(chains ? piece : in, data + at, n);
    if (chains) evbuffer_add_buffer(in, piece);
    at += n;
    long want = head > 0   ? (at >= static_cast<size_t>(head) ? head : 0)
                : head < 0 ? (at >= kMaxRequestHead ? -1 : 0)
                           : 0;
    if (find_request_head(in, scanned) != want) abort();
    if (scanned > at) abort();
  }
  evbuffer_free(piece);
  evbuffer_free(in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  evbuffer* in = evbuffer_new();
  evbuffer_add(in, data, size);
  long head = find_request_head(in);
  if (head > static_cast<long>(kMaxRequestHead)) abort();
  check_resumed(data, size, head);
  if (head > 0) {
    const char* raw = reinterpret_cast<const char*>(evbuffer_pullup(in, head));
    Request req;
    const char* why = "";
    if (parse_request(std::string_view(raw, head), req, &why) == 0) {
      if (req.headers.size() > kMaxHeaderFields) abort();
      if (is_hybi00(req)) {
        Hybi00Upgrade legacy;
        int status = check_hybi00(req, legacy, &why);
        if (status != 0 && status != 400 && status != 426) abort();
        if (status == 0) {
          uint8_t key3[8] = {0}, challenge[16];
          hybi00_challenge(legacy.n1, legacy.n2, key3, challenge);
          evbuffer* out = evbuffer_new();
          write_hybi00_switching(out, legacy.origin, hybi00_location(req, false), "", challenge);
          evbuffer_free(out);
        }
      } else {
        Upgrade up;
        if (check_upgrade(req, up, &why) == 0 && websocket_accept(up.key).size() != 28) abort();
      }
    }
  }
  evbuffer_free(in);
  return 0;
}
