// Fuzzes the upgrade request parser and checks through the same path the session uses, for
// RFC 6455 and hybi-00 requests.
#include <event2/buffer.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "handshake.h"
#include "hybi00.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  evbuffer* in = evbuffer_new();
  evbuffer_add(in, data, size);
  long head = find_request_head(in);
  if (head > static_cast<long>(kMaxRequestHead)) abort();
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
