#include "hybi00.h"

#include <openssl/evp.h>

#include <event2/buffer.h>

#include "http.h"

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

namespace {

// A key's spaces all count: the draft skips only the one space after the colon, where HTTP
// would trim every space at either end. The head is contiguous and each line ends in CRLF.
std::string_view key_value(const HeaderField& h) {
  const char* p = h.name.data() + h.name.size() + 1;  // after the colon
  if (*p == ' ') p++;
  const char* end = h.value.data() + h.value.size();
  while (*end != '\r') end++;
  return std::string_view(p, static_cast<size_t>(end - p));
}

}  // namespace

bool is_hybi00(const Request& req) {
  return (req.find("Sec-WebSocket-Key1") || req.find("Sec-WebSocket-Key2")) &&
         !req.find("Sec-WebSocket-Version");
}

int check_hybi00(const Request& req, Hybi00Upgrade& up, const char** why) {
  up = Hybi00Upgrade();
  if (int status = check_upgrade_fields(req, why)) return status;
  const HeaderField* k1 = req.find("Sec-WebSocket-Key1");
  const HeaderField* k2 = req.find("Sec-WebSocket-Key2");
  if (!k1 || !k2 || req.count("Sec-WebSocket-Key1") != 1 || req.count("Sec-WebSocket-Key2") != 1) {
    *why = "hybi-00 needs exactly one Sec-WebSocket-Key1 and one Sec-WebSocket-Key2";
    return http_status::kBadRequest;
  }
  if (!hybi00_key_number(key_value(*k1), up.n1) || !hybi00_key_number(key_value(*k2), up.n2)) {
    *why =
        "bad Sec-WebSocket-Key1/Key2: each needs spaces, and its digits must divide by them "
        "into a 32-bit number";
    return http_status::kBadRequest;
  }
  up.host = req.find("Host")->value;
  return parse_offer(req, up.origin, up.protocols, why);
}

std::string hybi00_location(const Request& req, bool tls) {
  std::string loc = tls ? "wss://" : "ws://";
  std::string_view host = req.find("Host")->value;
  loc.append(host.data(), host.size());
  loc.append(req.target.data(), req.target.size());
  return loc;
}

void write_hybi00_switching(evbuffer* out, std::string_view origin, std::string_view location,
                            std::string_view protocol, const uint8_t challenge[16],
                            std::string_view fields) {
  if (origin.empty()) origin = "null";
  evbuffer_add_printf(out,
                      "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
                      "Upgrade: WebSocket\r\n"
                      "Connection: Upgrade\r\n"
                      "Sec-WebSocket-Origin: %.*s\r\n"
                      "Sec-WebSocket-Location: %.*s\r\n",
                      static_cast<int>(origin.size()), origin.data(),
                      static_cast<int>(location.size()), location.data());
  if (!protocol.empty())
    evbuffer_add_printf(out, "Sec-WebSocket-Protocol: %.*s\r\n", static_cast<int>(protocol.size()),
                        protocol.data());
  evbuffer_add(out, fields.data(), fields.size());
  evbuffer_add(out, "\r\n", 2);
  evbuffer_add(out, challenge, 16);
}
