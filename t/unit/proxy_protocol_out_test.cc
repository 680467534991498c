// The PROXY headers sent to backends, byte for byte against HAProxy's proxy-protocol.txt, and
// the proxy_protocol route key.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "config_parse.h"
#include "proxy_protocol_out.h"

namespace {

using Bytes = std::vector<uint8_t>;

const Bytes kSig = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// An address into a ConnInfo's binary form, as accept() would give it.
void set_addr(sockaddr_storage& ss, const char* ip, uint16_t port) {
  ss = sockaddr_storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
  } else {
    ASSERT_EQ(inet_pton(AF_INET6, ip, &v6->sin6_addr), 1) << ip;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
  }
}

ConnInfo conn(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  ConnInfo c;
  set_addr(c.peer_addr, src, sport);
  set_addr(c.local_addr, dst, dport);
  return c;
}

Bytes build(ProxyProtocol v, const ConnInfo& c) {
  ProxyHeader h;
  proxy_header(v, c, h);
  EXPECT_LE(h.len, sizeof h.bytes);
  return Bytes(h.bytes, h.bytes + h.len);
}

std::string text(const Bytes& b) {
  return std::string(b.begin(), b.end());
}

// Concatenates byte runs and strings into the expected wire image.
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes str(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

// A TLV: type, 16-bit big-endian length, value.
Bytes tlv(uint8_t type, const Bytes& value) {
  return cat(
      {{type, static_cast<uint8_t>(value.size() >> 8), static_cast<uint8_t>(value.size() & 0xff)},
       value});
}

TEST(ProxyProtocolOut, V1Tcp4) {
  EXPECT_EQ(text(build(ProxyProtocol::kV1, conn("127.0.0.9", 40000, "127.0.0.1", 8080))),
            "PROXY TCP4 127.0.0.9 127.0.0.1 40000 8080\r\n");
}

TEST(ProxyProtocolOut, V1Tcp6) {
  EXPECT_EQ(text(build(ProxyProtocol::kV1, conn("2001:db8::1", 65535, "::1", 443))),
            "PROXY TCP6 2001:db8::1 ::1 65535 443\r\n");
}

TEST(ProxyProtocolOut, V1MappedIpv4IsTcp4) {
  EXPECT_EQ(text(build(ProxyProtocol::kV1, conn("::ffff:192.0.2.7", 1, "::ffff:10.0.0.1", 2))),
            "PROXY TCP4 192.0.2.7 10.0.0.1 1 2\r\n");
}

TEST(ProxyProtocolOut, V1Unknown) {
  EXPECT_EQ(text(build(ProxyProtocol::kV1, ConnInfo())), "PROXY UNKNOWN\r\n");
  // Mixed families cannot be told in one line either.
  EXPECT_EQ(text(build(ProxyProtocol::kV1, conn("192.0.2.1", 1, "::1", 2))), "PROXY UNKNOWN\r\n");
}

TEST(ProxyProtocolOut, OffIsEmpty) {
  EXPECT_TRUE(build(ProxyProtocol::kOff, conn("192.0.2.1", 1, "192.0.2.2", 2)).empty());
}

TEST(ProxyProtocolOut, V2Inet) {
  Bytes want = cat({kSig,
                    {0x21, 0x11, 0x00, 0x0C},
                    {127, 0, 0, 9},
                    {127, 0, 0, 1},
                    {0x9C, 0x40},    // 40000
                    {0x1F, 0x90}});  // 8080
  EXPECT_EQ(build(ProxyProtocol::kV2, conn("127.0.0.9", 40000, "127.0.0.1", 8080)), want);
}

TEST(ProxyProtocolOut, V2Inet6) {
  Bytes src(16, 0), dst(16, 0);
  src[0] = 0x20, src[1] = 0x01, src[2] = 0x0d, src[3] = 0xb8, src[15] = 0x01;
  dst[15] = 0x01;
  Bytes want = cat({kSig, {0x21, 0x21, 0x00, 0x24}, src, dst, {0x01, 0xBB}, {0x00, 0x50}});
  EXPECT_EQ(build(ProxyProtocol::kV2, conn("2001:db8::1", 443, "::1", 80)), want);
}

TEST(ProxyProtocolOut, V2Unspec) {
  EXPECT_EQ(build(ProxyProtocol::kV2, ConnInfo()), cat({kSig, {0x21, 0x00, 0x00, 0x00}}));
}

TEST(ProxyProtocolOut, V2TlsWithoutClientCert) {
  ConnInfo c = conn("127.0.0.9", 40000, "127.0.0.1", 8443);
  c.tls = true;
  c.tls_version = "TLSv1.3";
  c.sni = "app.example.com";
  Bytes tlvs = cat({tlv(0x02, str("app.example.com")),
                    tlv(0x20, cat({{0x01, 0, 0, 0, 1}, tlv(0x21, str("TLSv1.3"))}))});
  // The SSL TLV: client = SSL only, verify nonzero (no certificate), the version sub-TLV.
  ASSERT_EQ(tlvs.size(), 18u + 18u);
  Bytes want = cat({kSig,
                    {0x21, 0x11, 0x00, static_cast<uint8_t>(12 + tlvs.size())},
                    {127, 0, 0, 9, 127, 0, 0, 1, 0x9C, 0x40, 0x20, 0xFB},
                    tlvs});
  EXPECT_EQ(build(ProxyProtocol::kV2, c), want);
}

TEST(ProxyProtocolOut, V2TlsWithVerifiedClientCert) {
  ConnInfo c = conn("127.0.0.9", 40000, "127.0.0.1", 8443);
  c.tls = true;
  c.tls_version = "TLSv1.2";
  c.client_cert = std::make_unique<ClientCert>();
  c.client_cert->subject = "CN=alice,O=Example";
  c.client_cert->cn = "alice";
  Bytes ssl = cat({{0x07, 0, 0, 0, 0}, tlv(0x21, str("TLSv1.2")), tlv(0x22, str("alice"))});
  Bytes tlvs = cat({tlv(0x20, ssl), tlv(0xE0, str("CN=alice,O=Example"))});
  // No SNI sent: no AUTHORITY TLV. Layout of the SSL TLV, byte by byte.
  ASSERT_EQ(ssl.size(), 5u + 10u + 8u);
  Bytes want = cat({kSig,
                    {0x21, 0x11, 0x00, static_cast<uint8_t>(12 + tlvs.size())},
                    {127, 0, 0, 9, 127, 0, 0, 1, 0x9C, 0x40, 0x20, 0xFB},
                    tlvs});
  EXPECT_EQ(build(ProxyProtocol::kV2, c), want);
  // A resumed session's certificate was presented on an earlier connection.
  c.client_cert->resumed = true;
  Bytes got = build(ProxyProtocol::kV2, c);
  ASSERT_GT(got.size(), 32u);
  EXPECT_EQ(got[16 + 12 + 3], 0x05);
}

TEST(ProxyProtocolOut, V1IgnoresTls) {
  ConnInfo c = conn("127.0.0.9", 1, "127.0.0.1", 2);
  c.tls = true;
  c.sni = "x.example";
  EXPECT_EQ(text(build(ProxyProtocol::kV1, c)), "PROXY TCP4 127.0.0.9 127.0.0.1 1 2\r\n");
}

TEST(ProxyProtocolOut, OverlongValuesAreLeftOutWhole) {
  ConnInfo c = conn("2001:db8::1", 1, "2001:db8::2", 2);
  c.tls = true;
  c.tls_version = "TLSv1.3";
  c.sni = std::string(kProxySniMax + 1, 'a');
  c.client_cert = std::make_unique<ClientCert>();
  c.client_cert->cn = std::string(kProxyCnMax + 1, 'c');
  c.client_cert->subject = "CN=" + std::string(kProxyDnMax, 'd');
  Bytes ssl = cat({{0x07, 0, 0, 0, 0}, tlv(0x21, str("TLSv1.3"))});
  Bytes got = build(ProxyProtocol::kV2, c);
  ASSERT_EQ(got.size(), 16u + 36u + 3u + ssl.size());
  EXPECT_EQ(Bytes(got.begin() + 52, got.end()), tlv(0x20, ssl));
  // At their caps they all fit, and the length field counts them.
  c.sni = std::string(kProxySniMax, 'a');
  c.client_cert->cn = std::string(kProxyCnMax, 'c');
  c.client_cert->subject = std::string(kProxyDnMax, 'd');
  got = build(ProxyProtocol::kV2, c);
  EXPECT_EQ(got.size(),
            16u + 36u + (3 + kProxySniMax) + (3 + 5 + 10 + 3 + kProxyCnMax) + (3 + kProxyDnMax));
  EXPECT_EQ(size_t{got[14]} << 8 | got[15], got.size() - 16);
}

TEST(ProxyProtocolConfig, RouteKey) {
  Config c = parse_ok(
      "[route a]\npath = /a\nbackend = tcp://127.0.0.1:7000\nproxy_protocol = v2\n"
      "[route b]\npath = /b\nbackend = ws://127.0.0.1:9000\nproxy_protocol = v1\n"
      "[route c]\npath = /c\nbackend = unix:/run/x.sock\n");
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].proxy_protocol, ProxyProtocol::kV2);
  EXPECT_EQ(c.routes[1].proxy_protocol, ProxyProtocol::kV1);
  EXPECT_EQ(c.routes[2].proxy_protocol, ProxyProtocol::kOff);
  std::string v;
  ASSERT_TRUE(config_option_value("proxy_protocol", c, &c.routes[0], v));
  EXPECT_EQ(v, "v2");
}

TEST(ProxyProtocolConfig, Errors) {
  expect_one_error("[route a]\npath = /a\nbackend = tcp://127.0.0.1:7\nproxy_protocol = v3\n", 4,
                   "bad proxy_protocol \"v3\"; write off, v1 or v2");
  expect_one_error("[route a]\npath = /a\nbackend = echo\nproxy_protocol = v1\n", 4,
                   "built-in echo");
  expect_one_error("[server]\nproxy_protocol = v1\n" + std::string(kRoute), 2,
                   "unknown key \"proxy_protocol\"");
  parse_ok("[route a]\npath = /a\nbackend = echo\nproxy_protocol = off\n");
}

}  // namespace
