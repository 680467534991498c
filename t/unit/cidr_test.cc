// trusted_proxies' matcher: parsing (masking, prefix ranges, IPv4-mapped forms), matching of
// socket addresses and of text, and the real client behind a chain of trusted proxies.
#include "cidr.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <string.h>

#include <string>

namespace {

// A socket address for a numeric IPv4 or IPv6 address.
sockaddr_storage addr(const char* ip) {
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    EXPECT_EQ(1, inet_pton(AF_INET6, ip, &v6->sin6_addr)) << ip;
    v6->sin6_family = AF_INET6;
  }
  return ss;
}

bool has(const CidrSet& set, const char* ip) {
  sockaddr_storage ss = addr(ip);
  bool by_addr = set.contains(reinterpret_cast<const sockaddr*>(&ss));
  EXPECT_EQ(by_addr, set.contains(std::string_view(ip))) << ip;
  return by_addr;
}

CidrSet set_of(const char* list) {
  CidrSet s;
  std::string err;
  EXPECT_TRUE(s.add(list, err)) << err;
  return s;
}

std::string normal(const char* text) {
  Cidr c;
  std::string err;
  EXPECT_TRUE(parse_cidr(text, c, err)) << text << ": " << err;
  return format_cidr(c);
}

std::string refused(const char* text) {
  Cidr c;
  std::string err;
  EXPECT_FALSE(parse_cidr(text, c, err)) << text;
  return err;
}

TEST(Cidr, ParsesAndMasksHostBits) {
  EXPECT_EQ("10.0.0.0/8", normal("10.0.0.0/8"));
  EXPECT_EQ("10.0.0.0/8", normal("10.1.2.3/8"));  // accepted and masked, as nginx does
  EXPECT_EQ("192.0.2.7", normal("192.0.2.7"));
  EXPECT_EQ("192.0.2.7", normal("192.0.2.7/32"));
  EXPECT_EQ("0.0.0.0/0", normal("0.0.0.0/0"));
  EXPECT_EQ("2001:db8::/32", normal("2001:db8:1::5/32"));
  EXPECT_EQ("::1", normal("::1"));
  EXPECT_EQ("10.0.0.0/8", normal("::ffff:10.9.9.9/104"));  // IPv4-mapped: the IPv4 network
  EXPECT_EQ("192.0.2.7", normal("::ffff:192.0.2.7"));
}

TEST(Cidr, RefusesBadAddressesAndPrefixes) {
  EXPECT_NE(std::string::npos, refused("10.0.0.256").find("write IPv4 or IPv6"));
  EXPECT_NE(std::string::npos, refused("example.com").find("e.g. 10.0.0.0/8"));
  EXPECT_NE(std::string::npos, refused("").find("bad trusted_proxies address"));
  EXPECT_NE(std::string::npos, refused("10.0.0.0/33").find("/0 to /32"));
  EXPECT_NE(std::string::npos, refused("2001:db8::/129").find("/0 to /128"));
  EXPECT_NE(std::string::npos, refused("10.0.0.0/").find("prefix length"));
  EXPECT_NE(std::string::npos, refused("10.0.0.0/8x").find("prefix length"));
  EXPECT_NE(std::string::npos, refused("10.0.0.0/-1").find("prefix length"));
  EXPECT_NE(std::string::npos, refused("::ffff:0.0.0.0/80").find("IPv4-mapped"));
  EXPECT_NE(std::string::npos, refused("[::1]").find("bad trusted_proxies address"));
}

TEST(Cidr, SetMatchesIpv4AndIpv6) {
  CidrSet s = set_of("10.0.0.0/8, 192.168.1.7 2001:db8::/32");
  EXPECT_TRUE(has(s, "10.0.0.1"));
  EXPECT_TRUE(has(s, "10.255.255.255"));
  EXPECT_FALSE(has(s, "11.0.0.0"));
  EXPECT_TRUE(has(s, "192.168.1.7"));
  EXPECT_FALSE(has(s, "192.168.1.8"));
  EXPECT_TRUE(has(s, "2001:db8:ffff::1"));
  EXPECT_FALSE(has(s, "2001:db9::1"));
  EXPECT_FALSE(has(s, "::1"));
  EXPECT_FALSE(s.contains(std::string_view("not an address")));
}

TEST(Cidr, Ipv4MappedIpv6MatchesIpv4Networks) {
  CidrSet s = set_of("127.0.0.0/8");
  EXPECT_TRUE(has(s, "::ffff:127.0.0.1"));
  EXPECT_FALSE(has(s, "::ffff:128.0.0.1"));
  EXPECT_FALSE(has(s, "::1"));  // loopback in IPv6 is not 127/8
}

TEST(Cidr, OddPrefixLengths) {
  CidrSet s = set_of("192.0.2.128/25, 2001:db8::8/125");
  EXPECT_TRUE(has(s, "192.0.2.200"));
  EXPECT_FALSE(has(s, "192.0.2.127"));
  EXPECT_TRUE(has(s, "2001:db8::f"));
  EXPECT_FALSE(has(s, "2001:db8::10"));
}

TEST(Cidr, EmptySetMatchesNothingAndZeroPrefixEverything) {
  CidrSet none;
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(has(none, "127.0.0.1"));
  CidrSet all = set_of("0.0.0.0/0 ::/0");
  EXPECT_TRUE(has(all, "203.0.113.9"));
  EXPECT_TRUE(has(all, "2001:db8::1"));
}

TEST(RealClientIp, RightMostUntrustedElement) {
  CidrSet t = set_of("10.0.0.0/8, 2001:db8::/32");
  EXPECT_EQ("203.0.113.7", real_client_ip(t, "198.51.100.1, 203.0.113.7, 10.0.0.2", "10.0.0.1"));
  EXPECT_EQ("203.0.113.7", real_client_ip(t, "203.0.113.7", "10.0.0.1"));
  EXPECT_EQ("10.0.0.1", real_client_ip(t, "", "10.0.0.1"));
  // Every element trusted: the left-most one is as far as the chain goes.
  EXPECT_EQ("10.0.0.3", real_client_ip(t, "10.0.0.3,10.0.0.2", "10.0.0.1"));
  // Ports and brackets as some proxies write them.
  EXPECT_EQ("203.0.113.7", real_client_ip(t, "203.0.113.7:5000, 10.0.0.2:80", "10.0.0.1"));
  EXPECT_EQ("2001:db9::1", real_client_ip(t, "[2001:db9::1]:443, 2001:db8::5", "10.0.0.1"));
  // Garbage stops the walk at the trusted hop that wrote it.
  EXPECT_EQ("10.0.0.2", real_client_ip(t, "203.0.113.7, unknown, 10.0.0.2", "10.0.0.1"));
  EXPECT_EQ("10.0.0.1", real_client_ip(t, "203.0.113.7, unknown", "10.0.0.1"));
  EXPECT_EQ("203.0.113.7", real_client_ip(t, "203.0.113.7, , ", "10.0.0.1"));
}

}  // namespace
