// Test helper: RFC 6455 frames as a peer writes them, shared by the unit tests.
#pragma once

#include <cstdint>
#include <string>

#include "frame.h"

namespace test_frames {

constexpr uint8_t kMask[4] = {0x37, 0xfa, 0x21, 0x3d};

// A frame as a peer writes it: masked with kMask when `masked`, RSV bits `rsv`.
inline std::string frame(uint8_t opcode, const std::string& payload, bool masked, bool fin = true,
                         uint8_t rsv = 0) {
  uint8_t h[kMaxFrameHeader];
  size_t n = encode_frame_header(h, opcode, fin, payload.size(), masked ? kMask : nullptr);
  h[0] |= static_cast<uint8_t>(rsv << 4);
  std::string out(reinterpret_cast<char*>(h), n);
  for (size_t i = 0; i < payload.size(); i++)
    out += masked ? static_cast<char>(payload[i] ^ kMask[i & 3]) : payload[i];
  return out;
}

// A close frame's payload: the code, big-endian, then the reason.
inline std::string close_body(uint16_t code, const std::string& reason = "") {
  return std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)} + reason;
}

}  // namespace test_frames
