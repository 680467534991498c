#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

namespace {

const uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Text to 4 or 16 bytes; an IPv4-mapped IPv6 address comes back as IPv4.
bool parse_ip(std::string_view text, bool& v6, uint8_t* addr) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return false;
  memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (inet_pton(AF_INET, buf, addr) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, buf, addr) != 1) return false;
  v6 = memcmp(addr, kMappedPrefix, 12) != 0;
  if (!v6) memmove(addr, addr + 12, 4);
  return true;
}

// Zeroes every bit after the first `bits`.
void mask(uint8_t* addr, unsigned bits, unsigned size) {
  for (unsigned i = 0; i < size; i++) {
    unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
    addr[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
}

// An X-Forwarded-For element as proxies write it: "192.0.2.1", "192.0.2.1:5000",
// "[2001:db8::1]:5000" or "2001:db8::1"; the bare address.
std::string_view strip_port(std::string_view e) {
  if (!e.empty() && e.front() == '[') {
    size_t close = e.find(']');
    return close == std::string_view::npos ? std::string_view() : e.substr(1, close - 1);
  }
  size_t colon = e.find(':');
  if (colon != std::string_view::npos && e.find(':', colon + 1) == std::string_view::npos)
    return e.substr(0, colon);
  return e;
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool parse_cidr(std::string_view text, Cidr& out, std::string& err) {
  out = Cidr();
  size_t slash = text.find('/');
  std::string_view ip = text.substr(0, slash);
  bool v6 = false;
  if (!parse_ip(ip, v6, out.addr)) {
    err = "bad trusted_proxies address \"" + std::string(text) +
          "\"; write IPv4 or IPv6 addresses or networks, e.g. 10.0.0.0/8, 192.0.2.7, "
          "2001:db8::/32";
    return false;
  }
  bool mapped = !v6 && ip.find(':') != std::string_view::npos;
  unsigned max = v6 ? 128 : mapped ? 128 : 32;
  unsigned bits = max;
  if (slash != std::string_view::npos) {
    std::string_view n = text.substr(slash + 1);
    bits = 0;
    bool ok = !n.empty() && n.size() <= 3;
    for (char c : n) {
      ok = ok && c >= '0' && c <= '9';
      bits = bits * 10 + static_cast<unsigned>(c - '0');
    }
    if (!ok || bits > max) {
      err = "bad prefix length in trusted_proxies \"" + std::string(text) + "\"; write /0 to /" +
            std::to_string(max) + " after an " + (max == 32 ? "IPv4" : "IPv6") + " address";
      return false;
    }
  }
  if (mapped) {
    // ::ffff:10.0.0.0/104 is 10.0.0.0/8; a shorter prefix reaches past the mapped range.
    if (bits < 96) {
      err = "trusted_proxies \"" + std::string(text) +
            "\" reaches outside the IPv4-mapped range; write the IPv4 network, e.g. 10.0.0.0/8";
      return false;
    }
    bits -= 96;
  }
  out.v6 = v6;
  out.bits = static_cast<uint8_t>(bits);
  mask(out.addr, bits, v6 ? 16 : 4);
  return true;
}

std::string format_cidr(const Cidr& c) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(c.v6 ? AF_INET6 : AF_INET, c.addr, buf, sizeof buf);
  std::string s = buf;
  if (c.bits != (c.v6 ? 128 : 32)) s += "/" + std::to_string(c.bits);
  return s;
}

bool CidrSet::add(std::string_view list, std::string& err) {
  while (!list.empty()) {
    size_t end = list.find_first_of(", \t");
    std::string_view item = list.substr(0, end);
    if (!item.empty()) {
      Cidr c;
      if (!parse_cidr(item, c, err)) return false;
      nets_.push_back(c);
    }
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return true;
}

bool CidrSet::contains(bool v6, const uint8_t* addr) const {
  for (const Cidr& c : nets_) {
    if (c.v6 != v6) continue;
    uint8_t a[16];
    memcpy(a, addr, v6 ? 16 : 4);
    mask(a, c.bits, v6 ? 16 : 4);
    if (memcmp(a, c.addr, v6 ? 16 : 4) == 0) return true;
  }
  return false;
}

bool CidrSet::contains(const sockaddr* addr) const {
  if (addr->sa_family == AF_INET)
    return contains(false, reinterpret_cast<const uint8_t*>(
                               &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr));
  if (addr->sa_family != AF_INET6) return false;
  const uint8_t* a = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr.s6_addr;  // 16 bytes
  if (memcmp(a, kMappedPrefix, 12) == 0) return contains(false, a + 12);
  return contains(true, a);
}

bool CidrSet::contains(std::string_view ip) const {
  uint8_t a[16];
  bool v6;
  return parse_ip(ip, v6, a) && contains(v6, a);
}

std::string real_client_ip(const CidrSet& trusted, std::string_view xff, std::string_view peer) {
  std::string_view client = peer;
  while (!xff.empty()) {
    size_t comma = xff.rfind(',');
    std::string_view e = trim_blanks(comma == std::string_view::npos ? xff : xff.substr(comma + 1));
    xff = comma == std::string_view::npos ? std::string_view() : xff.substr(0, comma);
    if (e.empty()) continue;
    std::string_view ip = strip_port(e);
    uint8_t a[16];
    bool v6;
    if (!parse_ip(ip, v6, a)) break;
    client = ip;
    if (!trusted.contains(ip)) break;
  }
  return std::string(client);
}
