// The incoming PROXY protocol header, v1 and v2: valid headers at every prefix (NeedMore until
// the last byte, then Done with the same answer whatever follows), and the rejects, each as
// early as the bytes allow.
#include "proxy_protocol_in.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

namespace {

const std::string kV2Sig("\r\n\r\n\0\r\nQUIT\n", 12);

ProxyParse parse(const std::string& s, ProxyHeader& h) {
  return parse_proxy_header(reinterpret_cast<const uint8_t*>(s.data()), s.size(), h);
}

// A v2 header: signature, version/command, family/protocol, length, then body.
std::string v2(uint8_t ver_cmd, uint8_t fam, const std::string& body, int len = -1) {
  size_t n = len < 0 ? body.size() : static_cast<size_t>(len);
  std::string s = kV2Sig;
  s += static_cast<char>(ver_cmd);
  s += static_cast<char>(fam);
  s += static_cast<char>(n >> 8);
  s += static_cast<char>(n & 0xFF);
  return s + body;
}

std::string inet4_block(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
  std::string b(12, '\0');
  inet_pton(AF_INET, src, &b[0]);
  inet_pton(AF_INET, dst, &b[4]);
  b[8] = static_cast<char>(sport >> 8), b[9] = static_cast<char>(sport & 0xFF);
  b[10] = static_cast<char>(dport >> 8), b[11] = static_cast<char>(dport & 0xFF);
  return b;
}

std::string inet6_block(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
  std::string b(36, '\0');
  inet_pton(AF_INET6, src, &b[0]);
  inet_pton(AF_INET6, dst, &b[16]);
  b[32] = static_cast<char>(sport >> 8), b[33] = static_cast<char>(sport & 0xFF);
  b[34] = static_cast<char>(dport >> 8), b[35] = static_cast<char>(dport & 0xFF);
  return b;
}

std::string tlv(uint8_t type, const std::string& value) {
  std::string t(1, static_cast<char>(type));
  t += static_cast<char>(value.size() >> 8);
  t += static_cast<char>(value.size() & 0xFF);
  return t + value;
}

// "ip:port" of an inet sockaddr.
std::string text_of(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(s->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(s->sin6_port));
  }
  return "none";
}

// Every proper prefix needs more; the whole header, alone or with the client's bytes after it,
// is Done with its own length; returns that answer.
ProxyHeader valid(const std::string& header) {
  ProxyHeader h;
  for (size_t n = 0; n < header.size(); n++) {
    EXPECT_EQ(ProxyParse::kNeedMore, parse(header.substr(0, n), h))
        << "prefix of " << n << " bytes: " << h.reason;
  }
  ProxyHeader after;
  EXPECT_EQ(ProxyParse::kDone, parse(header + "GET / HTTP/1.1\r\n", after)) << after.reason;
  EXPECT_EQ(ProxyParse::kDone, parse(header, h)) << h.reason;
  EXPECT_EQ(header.size(), h.length);
  EXPECT_EQ(h.length, after.length);
  EXPECT_EQ(text_of(h.src), text_of(after.src));
  return h;
}

// Refused with `kind`, and every longer input too.
void invalid(const std::string& s, ProxyError kind = ProxyError::kMalformed) {
  ProxyHeader h;
  EXPECT_EQ(ProxyParse::kError, parse(s, h)) << testing::PrintToString(s);
  EXPECT_EQ(kind, h.error);
  EXPECT_EQ(ProxyParse::kError, parse(s + "\r\nmore bytes\r\n", h));
}

TEST(ProxyProtocolIn, V1Tcp4) {
  ProxyHeader h = valid("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n");
  EXPECT_EQ(1, h.version);
  EXPECT_TRUE(h.addresses);
  EXPECT_EQ("192.0.2.7:56324", text_of(h.src));
  EXPECT_EQ("198.51.100.1:443", text_of(h.dst));
}

TEST(ProxyProtocolIn, V1Tcp6) {
  ProxyHeader h = valid("PROXY TCP6 2001:db8::7 2001:db8::1 0 65535\r\n");
  EXPECT_EQ("[2001:db8::7]:0", text_of(h.src));
  EXPECT_EQ("[2001:db8::1]:65535", text_of(h.dst));
}

TEST(ProxyProtocolIn, V1Unknown) {
  EXPECT_FALSE(valid("PROXY UNKNOWN\r\n").addresses);
  EXPECT_FALSE(valid("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 65535 65535\r\n").addresses);
}

TEST(ProxyProtocolIn, V1LongestLine) {
  std::string longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  ASSERT_EQ(kProxyV1Max - 3, longest.size());
  EXPECT_TRUE(valid(longest).addresses);
  std::string unknown = "PROXY UNKNOWN " + std::string(kProxyV1Max - 16, 'x') + "\r\n";
  ASSERT_EQ(kProxyV1Max, unknown.size());
  EXPECT_FALSE(valid(unknown).addresses);
}

TEST(ProxyProtocolIn, V1Malformed) {
  invalid("PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n");   // two spaces
  invalid("PROXY TCP4 192.0.2.7 198.51.100.1 1 2 \r\n");   // trailing space
  invalid("PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n");      // a field missing
  invalid("PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3\r\n");  // one too many
  invalid("proxy TCP4 192.0.2.7 198.51.100.1 1 2\r\n");    // lowercase
  invalid("PROXY tcp4 192.0.2.7 198.51.100.1 1 2\r\n");
  invalid("PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n");
  invalid("PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n");  // family mismatch
  invalid("PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n");
  invalid("PROXY TCP4 192.0.2.256 198.51.100.1 1 2\r\n");
  invalid("PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n");  // bad ports
  invalid("PROXY TCP4 192.0.2.7 198.51.100.1 +1 2\r\n");
  invalid("PROXY TCP4 192.0.2.7 198.51.100.1 01 2\r\n");
  invalid("PROXY TCP4 192.0.2.7 198.51.100.1 1 2x\r\n");
  invalid("PROXY TCP4 192.0.2.7 198.51.100.1 -1 2\r\n");
  invalid("PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n");  // LF alone
  invalid("PROXY TCP4 192.0.2.7 198.51.100.1 1 2\rX");
  invalid("PROXY TCP4 192.0.2.7\t198.51.100.1 1 2\r\n");
  invalid("PROXY TCP4 192.0.2.\xc3\xa9 198.51.100.1 1 2\r\n");
  invalid("PROXYTCP4");
}

TEST(ProxyProtocolIn, V1NoCrlfWithin107Bytes) {
  std::string line = "PROXY UNKNOWN " + std::string(200, 'x');
  ProxyHeader h;
  EXPECT_EQ(ProxyParse::kNeedMore, parse(line.substr(0, kProxyV1Max - 1), h));
  EXPECT_EQ(ProxyParse::kError, parse(line.substr(0, kProxyV1Max), h));
  // A CR as the 107th byte leaves no room for its LF.
  EXPECT_EQ(ProxyParse::kError, parse(line.substr(0, kProxyV1Max - 1) + "\r\n", h));
}

TEST(ProxyProtocolIn, NoSignatureFailsAtOnce) {
  invalid("G");
  invalid("GET / HTTP/1.1\r\n");
  invalid(std::string("\x16\x03\x01", 3));  // a TLS ClientHello
  invalid("PROXI");
  invalid(std::string("\r\n\r\n\0\r\nQUIT!", 12));
  ProxyHeader h;
  EXPECT_EQ(ProxyParse::kNeedMore, parse("PROX", h));
  EXPECT_EQ(ProxyParse::kNeedMore, parse(std::string("\r\n\r\n\0", 5), h));
  EXPECT_EQ(ProxyParse::kNeedMore, parse("", h));
}

TEST(ProxyProtocolIn, V2Inet) {
  ProxyHeader h = valid(v2(0x21, 0x11, inet4_block("192.0.2.7", "198.51.100.1", 56324, 443)));
  EXPECT_EQ(2, h.version);
  EXPECT_TRUE(h.addresses);
  EXPECT_EQ("192.0.2.7:56324", text_of(h.src));
  EXPECT_EQ("198.51.100.1:443", text_of(h.dst));
}

TEST(ProxyProtocolIn, V2Inet6) {
  ProxyHeader h = valid(v2(0x21, 0x21, inet6_block("2001:db8::7", "2001:db8::1", 1, 8443)));
  EXPECT_EQ("[2001:db8::7]:1", text_of(h.src));
  EXPECT_EQ("[2001:db8::1]:8443", text_of(h.dst));
}

TEST(ProxyProtocolIn, V2WithTlvs) {
  std::string body = inet4_block("192.0.2.7", "198.51.100.1", 5, 6) + tlv(0x02, "gate.example") +
                     tlv(0x04, "") + tlv(0x20, std::string(300, 'z'));
  ProxyHeader h = valid(v2(0x21, 0x11, body));
  EXPECT_EQ("192.0.2.7:5", text_of(h.src));
}

TEST(ProxyProtocolIn, V2LocalAndUnspecKeepTheSocket) {
  EXPECT_FALSE(valid(v2(0x20, 0x00, "")).addresses);
  // LOCAL ignores the family and whatever block follows.
  EXPECT_FALSE(valid(v2(0x20, 0x11, inet4_block("192.0.2.7", "198.51.100.1", 5, 6))).addresses);
  EXPECT_FALSE(valid(v2(0x20, 0xFF, "junk")).addresses);
  EXPECT_FALSE(valid(v2(0x21, 0x00, "")).addresses);
  EXPECT_FALSE(valid(v2(0x21, 0x31, std::string(216, '\0'))).addresses);  // AF_UNIX
}

TEST(ProxyProtocolIn, V2Malformed) {
  std::string in4 = inet4_block("192.0.2.7", "198.51.100.1", 5, 6);
  invalid(v2(0x11, 0x11, in4).substr(0, 13));  // version 1 in the binary form
  invalid(v2(0x31, 0x11, in4));
  invalid(v2(0x22, 0x11, in4).substr(0, 13));  // command 2
  invalid(v2(0x21, 0x41, in4).substr(0, 14));  // family 4
  invalid(v2(0x21, 0x13, in4).substr(0, 14));  // protocol 3
  invalid(v2(0x21, 0x12, in4));                // inet over DGRAM
  invalid(v2(0x21, 0x10, in4));
  invalid(v2(0x21, 0x11, in4.substr(0, 11)));  // a block too short
  invalid(v2(0x21, 0x21, std::string(35, '\0')));
  invalid(v2(0x21, 0x31, std::string(100, '\0')));
  invalid(v2(0x21, 0x11, in4 + tlv(0x02, "abc").substr(0, 5)));  // a TLV overrunning
  invalid(v2(0x21, 0x11, in4 + "\x02\x00"));                     // half a TLV header
}

TEST(ProxyProtocolIn, V2Oversized) {
  std::string head = v2(0x21, 0x11, "", kProxyV2MaxBody + 1);
  invalid(head, ProxyError::kOversized);  // refused at the length field, before the body
  invalid(v2(0x21, 0x11, "", 0xFFFF), ProxyError::kOversized);
  std::string in4 = inet4_block("192.0.2.7", "198.51.100.1", 5, 6);
  std::string biggest = in4 + tlv(0x20, std::string(kProxyV2MaxBody - 12 - 3, 'z'));
  EXPECT_EQ(kProxyHeaderMax, valid(v2(0x21, 0x11, biggest)).length);
}

// One byte at a time, as a reader that consumes what it has seen would feed it.
TEST(ProxyProtocolIn, ByteByByteMatchesOneShot) {
  const std::string headers[] = {
      "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n",
      v2(0x21, 0x21, inet6_block("2001:db8::7", "2001:db8::1", 1, 2) + tlv(1, "h2")),
  };
  for (const std::string& hdr : headers) {
    std::string seen;
    ProxyHeader h;
    ProxyParse r = ProxyParse::kNeedMore;
    for (char c : hdr + "GET") {
      seen += c;
      r = parse(seen, h);
      if (r != ProxyParse::kNeedMore) break;
    }
    ASSERT_EQ(ProxyParse::kDone, r);
    EXPECT_EQ(hdr.size(), seen.size());  // Done at the header's last byte, not later
    EXPECT_EQ(hdr.size(), h.length);
  }
}

}  // namespace
