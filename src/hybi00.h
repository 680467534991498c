// The legacy hybi-00 (hixie-76) opening handshake: the key arithmetic, the request's checks
// and the server's answer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "handshake.h"

struct evbuffer;

constexpr size_t kHybi00Key3 = 8;  // bytes after the request head

// What a valid hybi-00 upgrade request asks for.
struct Hybi00Upgrade {
  uint32_t n1 = 0, n2 = 0;  // the numbers of Sec-WebSocket-Key1 and Key2
  std::string_view host;
  std::string_view origin;
  std::vector<std::string_view> protocols;  // the client's offer, in its order
};

// A Sec-WebSocket-Key1/Key2 value's number: its digits read as one decimal number, divided
// by its count of spaces. False if there are no spaces, the division leaves a remainder, or
// the result does not fit in 32 bits.
bool hybi00_key_number(std::string_view key, uint32_t& out);
// The 16 bytes that end the server's handshake: MD5 of big-endian n1, big-endian n2 and the
// 8-byte key3 that follows the client's headers.
void hybi00_challenge(uint32_t n1, uint32_t n2, const uint8_t key3[8], uint8_t out[16]);
// True for a request that speaks hybi-00: Key1 or Key2 and no Sec-WebSocket-Version.
bool is_hybi00(const Request& req);
// Checks a hybi-00 upgrade request. Returns 0, or 400/426 and `why`.
int check_hybi00(const Request& req, Hybi00Upgrade& up, const char** why);
// The Sec-WebSocket-Location value: the client's Host and whole request target.
std::string hybi00_location(const Request& req, bool tls);
// The 101 answer and its 16-byte challenge response. `protocol` is omitted when empty; an
// absent Origin is answered as "null". `fields` holds more header lines, each ending in CRLF.
void write_hybi00_switching(evbuffer* out, std::string_view origin, std::string_view location,
                            std::string_view protocol, const uint8_t challenge[16],
                            std::string_view fields = {});
