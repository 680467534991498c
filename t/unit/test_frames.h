// Test helper: RFC 6455 frames as a peer writes them, shared by the unit tests.
#pragma once

#include <cstdint>
#include <initializer_list>
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

inline std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

// A masked client frame. `first_byte_extra` ORs bits (RSV) into the first byte.
inline std::string client_frame(uint8_t opcode, bool fin, const std::string& payload,
                                const uint8_t mask[4] = kMask, uint8_t first_byte_extra = 0) {
  uint8_t h[kMaxFrameHeader];
  size_t hl = encode_frame_header(h, opcode, fin, payload.size(), mask);
  h[0] |= first_byte_extra;
  std::string f(reinterpret_cast<char*>(h), hl);
  for (size_t i = 0; i < payload.size(); i++)
    f.push_back(static_cast<char>(payload[i] ^ static_cast<char>(mask[i % 4])));
  return f;
}

// A frame with a hand-written length field; `len_bytes` follows the 7-bit length.
inline std::string raw_frame(uint8_t b0, uint8_t len7, const std::string& len_bytes,
                             const std::string& payload, bool masked = true) {
  std::string f;
  f.push_back(static_cast<char>(b0));
  f.push_back(static_cast<char>((masked ? 0x80 : 0) | len7));
  f += len_bytes;
  if (masked) f.append(reinterpret_cast<const char*>(kMask), 4);
  for (size_t i = 0; i < payload.size(); i++)
    f.push_back(masked ? static_cast<char>(payload[i] ^ static_cast<char>(kMask[i % 4]))
                       : payload[i]);
  return f;
}

// Parses one unmasked server frame at the start of `s`.
struct ServerFrame {
  bool fin = false;
  uint8_t rsv = 0;
  uint8_t opcode = 0;
  bool masked = false;
  uint64_t len = 0;
  size_t header = 0;
  std::string payload;
};

inline ServerFrame parse_server_frame(const std::string& s) {
  ServerFrame f;
  auto at = [&](size_t i) { return static_cast<uint8_t>(s.at(i)); };
  f.fin = at(0) & 0x80;
  f.rsv = at(0) & 0x70;
  f.opcode = at(0) & 0x0F;
  f.masked = at(1) & 0x80;
  uint8_t len7 = at(1) & 0x7F;
  size_t pos = 2;
  if (len7 == 126) {
    f.len = (uint64_t{at(2)} << 8) | at(3);
    pos = 4;
  } else if (len7 == 127) {
    for (int i = 0; i < 8; i++) f.len = (f.len << 8) | at(2 + i);
    pos = 10;
  } else {
    f.len = len7;
  }
  if (f.masked) pos += 4;
  f.header = pos;
  f.payload = s.substr(pos, f.len);
  return f;
}

inline std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return s;
}

}  // namespace test_frames
