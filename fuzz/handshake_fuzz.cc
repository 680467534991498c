// Fuzzes the upgrade request parser and checks through the same path the session uses.
#include <event2/buffer.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "handshake.h"

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
      Upgrade up;
      if (check_upgrade(req, up, &why) == 0 && websocket_accept(up.key).size() != 28) abort();
    }
  }
  evbuffer_free(in);
  return 0;
}
