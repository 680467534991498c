// Fuzzes the ws:// frame relay: whatever it forwards must be exactly a prefix of its input
// (minus swallowed frames), in client (masked) and server (unmasked) roles.
#include <event2/buffer.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "relay.h"

namespace {

class Watch : public RelayObserver {
 public:
  bool on_relay_control(uint8_t opcode, const uint8_t*, size_t n) override {
    if (n > kMaxControlPayload || (opcode != kOpPing && opcode != kOpPong)) abort();
    return opcode == kOpPing;  // swallow pongs, as wsgate does with its own
  }
  void on_relay_close(uint16_t code, std::string_view reason) override {
    if (code != close_code::kNoStatus && !close_code_valid(code)) abort();
    if (!utf8_valid(reason.data(), reason.size())) abort();
  }
  bool relay_blocked() const override { return false; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t chunk = data[0] % 64 + 1;
  uint64_t max = static_cast<uint64_t>((data[1] >> 2) % 8 + 1) * 256;
  FrameRules rules{(data[1] & 1) != 0, (data[1] & 2) != 0, max};
  data += 2;
  size -= 2;
  FrameRelay relay(rules);
  Watch watch;
  evbuffer* in = evbuffer_new();
  evbuffer* out = evbuffer_new();
  size_t fed = 0;
  while (fed < size) {
    size_t n = std::min(chunk, size - fed);
    evbuffer_add(in, data + fed, n);
    fed += n;
    if (relay.relay(in, out, watch).code) break;
  }
  if (evbuffer_get_length(out) > size) abort();
  evbuffer_free(in);
  evbuffer_free(out);
  return 0;
}
