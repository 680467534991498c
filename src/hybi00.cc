#include "hybi00.h"

#include <openssl/evp.h>

bool hybi00_key_number(std::string_view key, uint32_t& out) {
  uint64_t digits = 0;
  uint64_t spaces = 0;
  for (char c : key) {
    if (c == ' ') {
      spaces++;
    } else if (c >= '0' && c <= '9') {
      // Beyond this the quotient cannot fit in 32 bits whatever the spaces (at most 8 KiB).
      if (digits > (uint64_t{1} << 50)) return false;
      digits = digits * 10 + static_cast<uint64_t>(c - '0');
    }
  }
  if (spaces == 0 || digits % spaces != 0 || digits / spaces > UINT32_MAX) return false;
  out = static_cast<uint32_t>(digits / spaces);
  return true;
}

void hybi00_challenge(uint32_t n1, uint32_t n2, const uint8_t key3[8], uint8_t out[16]) {
  uint8_t in[16];
  for (int i = 0; i < 4; i++) {
    in[i] = static_cast<uint8_t>(n1 >> (24 - 8 * i));
    in[4 + i] = static_cast<uint8_t>(n2 >> (24 - 8 * i));
  }
  for (int i = 0; i < 8; i++) in[8 + i] = key3[i];
  unsigned int len = 16;
  EVP_Digest(in, sizeof in, out, &len, EVP_md5(), nullptr);
}
