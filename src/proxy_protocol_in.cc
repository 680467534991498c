#include "proxy_protocol_in.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <string_view>

namespace {

constexpr char kV1Sig[] = "PROXY ";
constexpr size_t kV1SigLen = sizeof kV1Sig - 1;
constexpr uint8_t kV2Sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
// v2 address blocks: two addresses and two ports (AF_UNIX: two 108-byte paths).
constexpr size_t kV2Inet = 12, kV2Inet6 = 36, kV2Unix = 216;

ProxyParse fail(ProxyHeader& out, const char* reason, ProxyError e = ProxyError::kMalformed) {
  out.error = e;
  out.reason = reason;
  return ProxyParse::kError;
}

// The bytes seen so far must agree with the signature: a plain client fails on its first byte.
bool prefix_matches(const uint8_t* data, size_t len, const void* sig, size_t sig_len) {
  return memcmp(data, sig, len < sig_len ? len : sig_len) == 0;
}

// A v1 port: decimal 0-65535, no sign, no leading zero, nothing else.
bool v1_port(std::string_view s, uint16_t& port) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  if (n > 65535) return false;
  port = static_cast<uint16_t>(n);
  return true;
}

// A v1 address and port into a sockaddr of the line's family; inet_pton is the judge of form.
bool v1_address(int family, std::string_view ip, std::string_view port_text,
                sockaddr_storage& out) {
  char text[INET6_ADDRSTRLEN];
  uint16_t port;
  if (ip.size() >= sizeof text || !v1_port(port_text, port)) return false;
  memcpy(text, ip.data(), ip.size());
  text[ip.size()] = '\0';
  out = sockaddr_storage{};
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    return inet_pton(AF_INET, text, &sin->sin_addr) == 1;
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  return inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1;
}

// The v1 line between "PROXY " and CRLF: UNKNOWN [anything], or TCP4|TCP6 and four fields,
// each separated by exactly one space.
ProxyParse v1_fields(std::string_view line, ProxyHeader& out) {
  if (line == "UNKNOWN" || line.substr(0, 8) == "UNKNOWN ") {
    out.addresses = false;  // the spec: whatever follows UNKNOWN is ignored
    return ProxyParse::kDone;
  }
  std::string_view f[5];
  for (int i = 0; i < 5; i++) {
    size_t sp = line.find(' ');
    if (i == 4 ? sp != std::string_view::npos : sp == std::string_view::npos)
      return fail(out, "v1: not PROTO SRC DST SPORT DPORT");
    f[i] = line.substr(0, sp);
    if (f[i].empty()) return fail(out, "v1: an empty field (two spaces?)");
    line = i == 4 ? std::string_view() : line.substr(sp + 1);
  }
  int family = f[0] == "TCP4" ? AF_INET : f[0] == "TCP6" ? AF_INET6 : 0;
  if (!family) return fail(out, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
  if (!v1_address(family, f[1], f[3], out.src) || !v1_address(family, f[2], f[4], out.dst))
    return fail(out, "v1: a bad address or port");
  out.addresses = true;
  return ProxyParse::kDone;
}

// v1: the line must end in CRLF within kProxyV1Max bytes, printable ASCII before it.
ProxyParse parse_v1(const uint8_t* data, size_t len, ProxyHeader& out) {
  out.version = 1;
  for (size_t i = kV1SigLen; i < len && i < kProxyV1Max; i++) {
    uint8_t c = data[i];
    if (c == '\r') {
      if (i + 1 >= kProxyV1Max) break;
      if (i + 1 >= len) return ProxyParse::kNeedMore;
      if (data[i + 1] != '\n') return fail(out, "v1: CR without LF");
      out.length = i + 2;
      std::string_view line(reinterpret_cast<const char*>(data) + kV1SigLen, i - kV1SigLen);
      return v1_fields(line, out);
    }
    if (c < 0x20 || c > 0x7e) return fail(out, "v1: a control or non-ASCII byte");
  }
  if (len >= kProxyV1Max) return fail(out, "v1: no CRLF within 107 bytes");
  return ProxyParse::kNeedMore;
}

// TLVs are skipped, but each must fit in the header: a sender that gets this wrong gets the
// addresses wrong too.
bool v2_tlvs_fit(const uint8_t* p, const uint8_t* end) {
  while (p < end) {
    if (end - p < 3) return false;
    size_t n = static_cast<size_t>(p[1]) << 8 | p[2];
    if (static_cast<size_t>(end - p - 3) < n) return false;
    p += 3 + n;
  }
  return true;
}

// v2: signature, version 2, LOCAL or PROXY, a family, a bounded length, then the block.
ProxyParse parse_v2(const uint8_t* data, size_t len, ProxyHeader& out) {
  out.version = 2;
  if (len < 13) return ProxyParse::kNeedMore;
  if (data[12] >> 4 != 2) return fail(out, "v2: version is not 2");
  int command = data[12] & 0x0F;
  if (command > 1) return fail(out, "v2: command is neither LOCAL nor PROXY");
  if (len < 14) return ProxyParse::kNeedMore;
  int family = data[13] >> 4, proto = data[13] & 0x0F;
  // LOCAL (a balancer's own health check) carries no client: the family is ignored.
  if (command == 1 && (family > 3 || proto > 2)) return fail(out, "v2: unknown family");
  bool inet = family == 1 || family == 2;
  if (command == 1 && inet && proto != 1) return fail(out, "v2: an inet family not over STREAM");
  if (len < kProxyV2Fixed) return ProxyParse::kNeedMore;
  size_t body = static_cast<size_t>(data[14]) << 8 | data[15];
  if (body > kProxyV2MaxBody)
    return fail(out, "v2: header longer than 1040 bytes", ProxyError::kOversized);
  if (len < kProxyV2Fixed + body) return ProxyParse::kNeedMore;
  out.length = kProxyV2Fixed + body;
  if (command == 0 || family == 0) return ProxyParse::kDone;  // keep the socket's addresses
  const uint8_t* p = data + kProxyV2Fixed;
  size_t block = family == 1 ? kV2Inet : family == 2 ? kV2Inet6 : kV2Unix;
  if (body < block) return fail(out, "v2: address block shorter than its family needs");
  if (!v2_tlvs_fit(p + block, p + body)) return fail(out, "v2: a TLV overruns the header");
  if (!inet) return ProxyParse::kDone;  // AF_UNIX: as HAProxy does, keep the socket's
  out.src = sockaddr_storage{};
  out.dst = sockaddr_storage{};
  if (family == 1) {
    auto* s = reinterpret_cast<sockaddr_in*>(&out.src);
    auto* d = reinterpret_cast<sockaddr_in*>(&out.dst);
    s->sin_family = d->sin_family = AF_INET;
    memcpy(&s->sin_addr, p, 4);
    memcpy(&d->sin_addr, p + 4, 4);
    memcpy(&s->sin_port, p + 8, 2);
    memcpy(&d->sin_port, p + 10, 2);
  } else {
    auto* s = reinterpret_cast<sockaddr_in6*>(&out.src);
    auto* d = reinterpret_cast<sockaddr_in6*>(&out.dst);
    s->sin6_family = d->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, p, 16);
    memcpy(&d->sin6_addr, p + 16, 16);
    memcpy(&s->sin6_port, p + 32, 2);
    memcpy(&d->sin6_port, p + 34, 2);
  }
  out.addresses = true;
  return ProxyParse::kDone;
}

}  // namespace

ProxyParse parse_proxy_header(const uint8_t* data, size_t len, ProxyHeader& out) {
  out = ProxyHeader();
  if (len == 0) return ProxyParse::kNeedMore;
  if (prefix_matches(data, len, kV1Sig, kV1SigLen))
    return len < kV1SigLen ? ProxyParse::kNeedMore : parse_v1(data, len, out);
  if (prefix_matches(data, len, kV2Sig, sizeof kV2Sig))
    return len < sizeof kV2Sig ? ProxyParse::kNeedMore : parse_v2(data, len, out);
  return fail(out, "no PROXY protocol signature");
}
