// trusted_proxies: a set of IPv4 and IPv6 networks, and the client address a chain of trusted
// proxies reports in X-Forwarded-For.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// One network: an address and how many leading bits of it count.
struct Cidr {
  bool v6 = false;
  uint8_t bits = 0;
  uint8_t addr[16] = {};  // host bits are zero
};

// Parses "10.0.0.0/8", "192.0.2.7", "2001:db8::/32". Host bits are masked off, as nginx's
// set_real_ip_from does; an IPv4-mapped IPv6 network becomes the IPv4 one. False with err.
bool parse_cidr(std::string_view text, Cidr& out, std::string& err);
// The network as it would be written: "10.0.0.0/8"; a single host without "/N".
std::string format_cidr(const Cidr& c);

class CidrSet {
 public:
  // Adds every blank- or comma-separated network of `list`; false with err at the first bad one.
  bool add(std::string_view list, std::string& err);
  bool empty() const { return nets_.empty(); }
  // An IPv4-mapped IPv6 address counts as the IPv4 one.
  bool contains(const sockaddr* addr) const;
  // The same for an address as text (an X-Forwarded-For element); false if it is none.
  bool contains(std::string_view ip) const;

 private:
  bool contains(bool v6, const uint8_t* addr) const;
  std::vector<Cidr> nets_;
};

// The client behind a trusted peer, as nginx's real_ip_recursive finds it: the right-most
// X-Forwarded-For element that is not itself trusted; `peer` when every one is. An element that
// is no address stops the walk at the trusted hop that wrote it.
std::string real_client_ip(const CidrSet& trusted, std::string_view xff, std::string_view peer);
