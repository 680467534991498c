// The legacy hybi-00 (hixie-76) protocol: the key arithmetic of its opening handshake.
#pragma once

#include <cstdint>
#include <string_view>

// A Sec-WebSocket-Key1/Key2 value's number: its digits read as one decimal number, divided
// by its count of spaces. False if there are no spaces, the division leaves a remainder, or
// the result does not fit in 32 bits.
bool hybi00_key_number(std::string_view key, uint32_t& out);
// The 16 bytes that end the server's handshake: MD5 of big-endian n1, big-endian n2 and the
// 8-byte key3 that follows the client's headers.
void hybi00_challenge(uint32_t n1, uint32_t n2, const uint8_t key3[8], uint8_t out[16]);
