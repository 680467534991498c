// The hybi-00 handshake: the arithmetic on the draft's vectors, the edge cases of key parsing,
// the request checks and the exact bytes of the 101 answer.
#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http.h"
#include "hybi00.h"
#include "test_buffer.h"

namespace {

std::string challenge(const char* k1, const char* k2, const char* key3) {
  uint32_t n1 = 0, n2 = 0;
  EXPECT_TRUE(hybi00_key_number(k1, n1)) << k1;
  EXPECT_TRUE(hybi00_key_number(k2, n2)) << k2;
  uint8_t out[16];
  hybi00_challenge(n1, n2, reinterpret_cast<const uint8_t*>(key3), out);
  return std::string(reinterpret_cast<char*>(out), 16);
}

}  // namespace

TEST(Hybi00, DraftVector) {
  uint32_t n = 0;
  ASSERT_TRUE(hybi00_key_number("4 @1  46546xW%0l 1 5", n));
  EXPECT_EQ(829309203u, n);  // 4146546015 / 5 spaces
  ASSERT_TRUE(hybi00_key_number("12998 5 Y3 1  .P00", n));
  EXPECT_EQ(259970620u, n);  // 1299853100 / 5 spaces
  EXPECT_EQ("8jKS'y:G*Co,Wxa-",
            challenge("4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00", "^n:ds[4U"));
}

TEST(Hybi00, SecondVector) {
  EXPECT_EQ("fQJ,fN/4F4!~K~MH", challenge("18x 6]8vM;54 *(5:  {   U1]8  z [  8",
                                          "1_ tx7X d  <  nw  334J702) 7]o}` 0", "Tm[K T2u"));
}

TEST(Hybi00, BigEndianNotLittleEndian) {
  // lighttpd's mod_wstunnel feeds MD5 little-endian numbers; the draft's answer differs.
  uint8_t key3[8] = {'^', 'n', ':', 'd', 's', '[', '4', 'U'};
  uint8_t be[16], le[16];
  hybi00_challenge(829309203u, 259970620u, key3, be);
  hybi00_challenge(__builtin_bswap32(829309203u), __builtin_bswap32(259970620u), key3, le);
  EXPECT_EQ("8jKS'y:G*Co,Wxa-", std::string(reinterpret_cast<char*>(be), 16));
  EXPECT_NE(std::string(reinterpret_cast<char*>(be), 16),
            std::string(reinterpret_cast<char*>(le), 16));
}

TEST(Hybi00, KeyRejects) {
  uint32_t n = 0;
  EXPECT_FALSE(hybi00_key_number("12345", n)) << "no spaces";
  EXPECT_FALSE(hybi00_key_number("", n)) << "empty";
  EXPECT_FALSE(hybi00_key_number("1 0 1", n)) << "101 / 2 spaces is not exact";
  EXPECT_FALSE(hybi00_key_number("8589934592 ", n)) << "2^33 / 1 overflows 32 bits";
  EXPECT_FALSE(hybi00_key_number("99999999999999999999999999 ", n)) << "digits overflow";
  EXPECT_TRUE(hybi00_key_number("4294967295 ", n));
  EXPECT_EQ(4294967295u, n);
  EXPECT_FALSE(hybi00_key_number("4294967296 ", n)) << "2^32 / 1";
  EXPECT_TRUE(hybi00_key_number("8589934590  ", n)) << "2^33-2 / 2 fits";
  EXPECT_EQ(4294967295u, n);
  EXPECT_TRUE(hybi00_key_number(" 0 ", n));
  EXPECT_EQ(0u, n);
}

// ---- Key numbers: edge cases ----

TEST(Hybi00Key, NoSpacesIsRejectedWhateverTheDigits) {
  uint32_t n = 7;
  for (const char* k : {"0", "1", "4294967295", "12a34", "1\t2\t3", "abc", "1_2-3"}) {
    EXPECT_FALSE(hybi00_key_number(k, n)) << k;
  }
  EXPECT_EQ(7u, n) << "out is left alone on a reject";
}

TEST(Hybi00Key, RemainderIsRejected) {
  uint32_t n = 0;
  EXPECT_FALSE(hybi00_key_number("7  ", n)) << "7 / 2";
  EXPECT_FALSE(hybi00_key_number("1 0 1  ", n)) << "101 / 4";
  EXPECT_FALSE(hybi00_key_number("4294967295  ", n)) << "odd / 2";
  EXPECT_TRUE(hybi00_key_number("8  ", n)) << "8 / 2";
  EXPECT_EQ(4u, n);
  EXPECT_TRUE(hybi00_key_number("1 0 0  ", n)) << "100 / 4";
  EXPECT_EQ(25u, n);
}

TEST(Hybi00Key, ExactlyUint32MaxIsAccepted) {
  uint32_t n = 0;
  EXPECT_TRUE(hybi00_key_number("4294967295 ", n));
  EXPECT_EQ(UINT32_MAX, n);
  EXPECT_TRUE(hybi00_key_number("1 2884901885  ", n)) << "3 * (2^32-1) / 3 spaces";
  EXPECT_EQ(UINT32_MAX, n);
  // The largest quotient with the most spaces a request head can hold.
  std::string k = "34359738360000" + std::string(8000, ' ');  // (2^32-1) * 8000
  EXPECT_TRUE(hybi00_key_number(k, n));
  EXPECT_EQ(UINT32_MAX, n);
}

TEST(Hybi00Key, Uint32MaxPlusOneIsRejected) {
  uint32_t n = 0;
  EXPECT_FALSE(hybi00_key_number("4294967296 ", n)) << "2^32 / 1";
  EXPECT_FALSE(hybi00_key_number("8589934592  ", n)) << "2^33 / 2";
  EXPECT_FALSE(hybi00_key_number("12884901888   ", n)) << "3 * 2^32 / 3";
  EXPECT_FALSE(hybi00_key_number("34359738368000" + std::string(8000, ' '), n))
      << "2^32 * 8000 / 8000";
}

TEST(Hybi00Key, VeryLongDigitStrings) {
  uint32_t n = 0;
  // Leading zeros do not count toward the size.
  EXPECT_TRUE(hybi00_key_number(std::string(5000, '0') + "42 ", n));
  EXPECT_EQ(42u, n);
  EXPECT_TRUE(hybi00_key_number(std::string(5000, '0') + "4294967295 ", n));
  EXPECT_EQ(UINT32_MAX, n);
  // Long runs of significant digits overflow, without wrapping round to something that fits.
  EXPECT_FALSE(hybi00_key_number(std::string(20, '9') + " ", n));
  EXPECT_FALSE(hybi00_key_number(std::string(8000, '9') + std::string(100, ' '), n));
  EXPECT_FALSE(hybi00_key_number("1" + std::string(5000, '0') + " ", n));
  // 2^64 + 4 would be 4 if the digits wrapped at 64 bits: 18446744073709551620 / 1.
  EXPECT_FALSE(hybi00_key_number("18446744073709551620 ", n));
  // And 2^64 * 5 + 10 over 5 spaces would be 2 after wrapping.
  EXPECT_FALSE(hybi00_key_number("92233720368547758090     ", n));
}

TEST(Hybi00Key, DigitsInterleavedWithJunk) {
  uint32_t n = 0;
  EXPECT_TRUE(hybi00_key_number("a1b2c 3", n)) << "123 / 1";
  EXPECT_EQ(123u, n);
  EXPECT_TRUE(hybi00_key_number("1x2y3 z4 ", n)) << "1234 / 2";
  EXPECT_EQ(617u, n);
  // Tabs and other whitespace are junk, not spaces.
  EXPECT_TRUE(hybi00_key_number("1\t2\r3\n4 ", n));
  EXPECT_EQ(1234u, n);
  // Bytes outside ASCII are junk too.
  EXPECT_TRUE(
      hybi00_key_number("\xC3\xA9"
                        "6\xFF"
                        "0 \x80",
                        n));
  EXPECT_EQ(60u, n);
  EXPECT_TRUE(hybi00_key_number("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~9 9", n));
  EXPECT_EQ(99u, n);
}

TEST(Hybi00Key, Zero) {
  uint32_t n = 5;
  EXPECT_TRUE(hybi00_key_number("0 ", n));
  EXPECT_EQ(0u, n);
  n = 5;
  EXPECT_TRUE(hybi00_key_number("0 0 0 0", n)) << "0 / 3";
  EXPECT_EQ(0u, n);
  n = 5;
  EXPECT_TRUE(hybi00_key_number(std::string(100, '0') + std::string(7, ' '), n));
  EXPECT_EQ(0u, n);
}

// ---- is_hybi00 and check_hybi00 ----

namespace {

const std::string kKey1 = "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n";
const std::string kKey2 = "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n";
const std::string kUpgradeWs = "Upgrade: WebSocket\r\n";
const std::string kConnUpgrade = "Connection: Upgrade\r\n";

// The draft's sample request with `fields` (each "Name: value\r\n") after Host.
std::string hybi00_request(const std::string& fields,
                           const std::string& line = "GET /demo HTTP/1.1") {
  return line + "\r\nHost: example.com\r\n" + fields + "\r\n";
}

// Parses a request head, keeping its bytes alive for the views.
struct Parsed {
  std::string head;
  Request req;
  explicit Parsed(std::string h) : head(std::move(h)) {
    const char* why = "";
    int st = parse_request(head, req, &why);
    EXPECT_EQ(0, st) << "parse_request failed: " << why;
  }
};

// check_hybi00's status for the request in `p`; `why` must be set on an error. `out`'s views
// point into `p`.
int hybi00_status(const Parsed& p, Hybi00Upgrade* out = nullptr) {
  Hybi00Upgrade up;
  const char* why = "";
  int st = check_hybi00(p.req, up, &why);
  if (st) {
    EXPECT_STRNE(why, "") << "no reason for " << st;
  }
  if (out) *out = up;
  return st;
}

// The same for a request with these fields.
int hybi00_status(const std::string& fields) {
  return hybi00_status(Parsed(hybi00_request(fields)));
}

}  // namespace

TEST(Hybi00Check, GoodRequest) {
  Parsed p(
      "GET /demo?room=1 HTTP/1.1\r\n"
      "Host: example.com:8080\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n"
      "Sec-WebSocket-Protocol: sample, chat\r\n"
      "Upgrade: WebSocket\r\n"
      "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
      "Origin: http://example.com\r\n"
      "Sec-WebSocket-Protocol: v2\r\n"
      "\r\n");
  EXPECT_TRUE(is_hybi00(p.req));
  Hybi00Upgrade up;
  const char* why = "";
  ASSERT_EQ(0, check_hybi00(p.req, up, &why)) << why;
  EXPECT_EQ(829309203u, up.n1);
  EXPECT_EQ(259970620u, up.n2);
  EXPECT_EQ("http://example.com", up.origin);
  EXPECT_EQ("example.com:8080", up.host);
  ASSERT_EQ(3u, up.protocols.size());
  EXPECT_EQ("sample", up.protocols[0]);
  EXPECT_EQ("chat", up.protocols[1]);
  EXPECT_EQ("v2", up.protocols[2]);
}

TEST(Hybi00Check, NoOriginAndNoProtocolIsFine) {
  Parsed p(hybi00_request(kUpgradeWs + kConnUpgrade + kKey1 + kKey2));
  Hybi00Upgrade up;
  up.origin = "stale";
  up.protocols.push_back("stale");
  const char* why = "";
  ASSERT_EQ(0, check_hybi00(p.req, up, &why)) << why;
  EXPECT_EQ("", up.origin);
  EXPECT_TRUE(up.protocols.empty());
  EXPECT_EQ("example.com", up.host);
}

TEST(Hybi00Check, UpgradeTokenAnyCase) {
  for (const char* u : {"Upgrade: websocket\r\n", "Upgrade: WEBSOCKET\r\n",
                        "Upgrade: h2c, WebSocket\r\n", "upgrade: WebSocket\r\n"}) {
    EXPECT_EQ(0, hybi00_status(u + kConnUpgrade + kKey1 + kKey2)) << u;
  }
}

TEST(Hybi00Check, NoUpgradeWebSocketIs426) {
  EXPECT_EQ(http_status::kUpgradeRequired, hybi00_status(kConnUpgrade + kKey1 + kKey2));
  EXPECT_EQ(http_status::kUpgradeRequired,
            hybi00_status("Upgrade: h2c\r\n" + kConnUpgrade + kKey1 + kKey2));
  EXPECT_EQ(http_status::kUpgradeRequired,
            hybi00_status("Upgrade: WebSocket2\r\n" + kConnUpgrade + kKey1 + kKey2));
  // Checked first: a request wrong in every other way still gets 426.
  EXPECT_EQ(http_status::kUpgradeRequired, hybi00_status("Origin: a\r\nOrigin: b\r\n"));
}

TEST(Hybi00Check, NoConnectionUpgradeIs400) {
  EXPECT_EQ(http_status::kBadRequest, hybi00_status(kUpgradeWs + kKey1 + kKey2));
  EXPECT_EQ(http_status::kBadRequest,
            hybi00_status(kUpgradeWs + "Connection: keep-alive\r\n" + kKey1 + kKey2));
  EXPECT_EQ(http_status::kBadRequest,
            hybi00_status(kUpgradeWs + "Connection: upgraded\r\n" + kKey1 + kKey2));
  EXPECT_EQ(0, hybi00_status(kUpgradeWs + "Connection: keep-alive, upgrade\r\n" + kKey1 + kKey2));
}

TEST(Hybi00Check, MissingOrDuplicateKeysAre400) {
  std::string base = kUpgradeWs + kConnUpgrade;
  EXPECT_EQ(http_status::kBadRequest, hybi00_status(base + kKey1)) << "no Key2";
  EXPECT_EQ(http_status::kBadRequest, hybi00_status(base + kKey2)) << "no Key1";
  EXPECT_EQ(http_status::kBadRequest, hybi00_status(base)) << "neither";
  EXPECT_EQ(http_status::kBadRequest, hybi00_status(base + kKey1 + kKey1 + kKey2))
      << "two Key1, even equal";
  EXPECT_EQ(http_status::kBadRequest, hybi00_status(base + kKey1 + kKey2 + kKey2))
      << "two Key2, even equal";
  EXPECT_EQ(http_status::kBadRequest,
            hybi00_status(base + kKey1 + kKey2 + "sec-websocket-key1: 1 \r\n"))
      << "names compare in any case";
}

TEST(Hybi00Check, BadKeyIs400) {
  std::string base = kUpgradeWs + kConnUpgrade;
  for (const char* bad : {"12345", "7  ", "4294967296 ", "x"}) {
    SCOPED_TRACE(bad);
    std::string k1 = std::string("Sec-WebSocket-Key1: ") + bad + "\r\n";
    std::string k2 = std::string("Sec-WebSocket-Key2: ") + bad + "\r\n";
    EXPECT_EQ(http_status::kBadRequest, hybi00_status(base + k1 + kKey2));
    EXPECT_EQ(http_status::kBadRequest, hybi00_status(base + kKey1 + k2));
  }
}

TEST(Hybi00Check, TwoOriginsAre400) {
  std::string good = kUpgradeWs + kConnUpgrade + kKey1 + kKey2;
  EXPECT_EQ(http_status::kBadRequest,
            hybi00_status(good + "Origin: http://a.example\r\nOrigin: http://b.example\r\n"));
  EXPECT_EQ(http_status::kBadRequest,
            hybi00_status(good + "Origin: http://a.example\r\norigin: http://a.example\r\n"));
  Hybi00Upgrade up;
  Parsed p(hybi00_request(good + "Origin: null\r\n"));
  EXPECT_EQ(0, hybi00_status(p, &up));
  EXPECT_EQ("null", up.origin);
}

TEST(Hybi00Check, MalformedProtocolIs400) {
  std::string good = kUpgradeWs + kConnUpgrade + kKey1 + kKey2;
  for (const char* bad : {"chat room", "chat, [v2]", "a/b", "\"quoted\"", "x;y", "v1, v2 v3"}) {
    EXPECT_EQ(http_status::kBadRequest,
              hybi00_status(good + "Sec-WebSocket-Protocol: " + bad + "\r\n"))
        << bad;
  }
  // Empty list elements are skipped, not malformed.
  Hybi00Upgrade up;
  Parsed p(hybi00_request(good + "Sec-WebSocket-Protocol: chat, , v2,\r\n"));
  EXPECT_EQ(0, hybi00_status(p, &up));
  ASSERT_EQ(2u, up.protocols.size());
  EXPECT_EQ("chat", up.protocols[0]);
  EXPECT_EQ("v2", up.protocols[1]);
}

TEST(Hybi00Check, IsHybi00) {
  struct Case {
    std::string fields;
    bool hybi00;
  } cases[] = {
      {kKey1 + kKey2, true},
      {kKey1, true},
      {kKey2, true},
      {"sec-websocket-key1: 1 \r\n", true},
      {kKey1 + kKey2 + "Sec-WebSocket-Version: 13\r\n", false},
      {kKey1 + "Sec-WebSocket-Version: 8\r\n", false},
      {"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", false},
      {"", false},
      {"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", false},
  };
  for (const Case& c : cases) {
    Parsed p(hybi00_request(kUpgradeWs + kConnUpgrade + c.fields));
    EXPECT_EQ(c.hybi00, is_hybi00(p.req)) << c.fields;
  }
}

// ---- hybi00_location ----

TEST(Hybi00Location, HostAndWholeTarget) {
  struct Case {
    std::string line, host;
    bool tls;
    std::string expect;
  } cases[] = {
      {"GET /demo HTTP/1.1", "example.com", false, "ws://example.com/demo"},
      {"GET /demo?x=1&y=%20 HTTP/1.1", "example.com", false, "ws://example.com/demo?x=1&y=%20"},
      {"GET / HTTP/1.1", "example.com:8080", false, "ws://example.com:8080/"},
      {"GET /a/b?q HTTP/1.1", "[::1]:8443", true, "wss://[::1]:8443/a/b?q"},
      {"GET /chat HTTP/1.1", "Example.COM", true, "wss://Example.COM/chat"},
  };
  for (const Case& c : cases) {
    Parsed p(c.line + "\r\nHost: " + c.host + "\r\n" + kUpgradeWs + kConnUpgrade + kKey1 + kKey2 +
             "\r\n");
    EXPECT_EQ(c.expect, hybi00_location(p.req, c.tls));
  }
}

// ---- write_hybi00_switching ----

namespace {

const uint8_t kChallenge[16] = {'8', 'j', 'K', 'S', '\'', 'y', ':', 'G',
                                '*', 'C', 'o', ',', 'W',  'x', 'a', '-'};

std::string switching(std::string_view origin, std::string_view location, std::string_view protocol,
                      std::string_view fields = {}) {
  Buf out;
  write_hybi00_switching(out, origin, location, protocol, kChallenge, fields);
  return out.str();
}

}  // namespace

TEST(Hybi00Switching, WithProtocol) {
  EXPECT_EQ(
      "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
      "Upgrade: WebSocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Origin: http://example.com\r\n"
      "Sec-WebSocket-Location: ws://example.com/demo\r\n"
      "Sec-WebSocket-Protocol: sample\r\n"
      "\r\n"
      "8jKS'y:G*Co,Wxa-",
      switching("http://example.com", "ws://example.com/demo", "sample"));
}

TEST(Hybi00Switching, WithoutProtocol) {
  EXPECT_EQ(
      "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
      "Upgrade: WebSocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Origin: http://example.com\r\n"
      "Sec-WebSocket-Location: wss://example.com:8443/demo?x=1\r\n"
      "\r\n"
      "8jKS'y:G*Co,Wxa-",
      switching("http://example.com", "wss://example.com:8443/demo?x=1", ""));
}

TEST(Hybi00Switching, EmptyOriginIsNull) {
  EXPECT_EQ(
      "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
      "Upgrade: WebSocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Origin: null\r\n"
      "Sec-WebSocket-Location: ws://h/\r\n"
      "\r\n"
      "8jKS'y:G*Co,Wxa-",
      switching("", "ws://h/", ""));
}

TEST(Hybi00Switching, ExtraFieldsBeforeTheBlankLine) {
  EXPECT_EQ(
      "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
      "Upgrade: WebSocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Origin: null\r\n"
      "Sec-WebSocket-Location: ws://h/x\r\n"
      "Sec-WebSocket-Protocol: chat\r\n"
      "Set-Cookie: a=1\r\n"
      "X-Backend: yes\r\n"
      "\r\n"
      "8jKS'y:G*Co,Wxa-",
      switching("", "ws://h/x", "chat", "Set-Cookie: a=1\r\nX-Backend: yes\r\n"));
}

TEST(Hybi00Switching, ChallengeBytesComeLastVerbatim) {
  // Bytes a printf-style writer could mangle: NUL, '%', CR LF and high bytes.
  const uint8_t challenge[16] = {0x00, '%', 's',  '\r', '\n', 0xFF, 0x80, 0x00,
                                 '%',  'n', 0x7F, 0x01, 0xFE, 0x0D, 0x0A, 0x00};
  Buf out;
  write_hybi00_switching(out, "http://o", "ws://h/", "p", challenge);
  std::string s = out.str();
  ASSERT_GE(s.size(), 20u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(challenge), 16), s.substr(s.size() - 16));
  EXPECT_EQ("\r\n\r\n", s.substr(s.size() - 20, 4));
  EXPECT_EQ(s.size() - 20, s.find("\r\n\r\n")) << "the head ends once, right before the challenge";
}

TEST(Hybi00Switching, DraftVectorEndToEnd) {
  // Request to answer: the key numbers and key3 of the draft make its 16 bytes.
  Parsed p(hybi00_request(kUpgradeWs + kConnUpgrade + kKey2 + "Sec-WebSocket-Protocol: sample\r\n" +
                          kKey1 + "Origin: http://example.com\r\n"));
  Hybi00Upgrade up;
  const char* why = "";
  ASSERT_EQ(0, check_hybi00(p.req, up, &why)) << why;
  const uint8_t key3[8] = {'^', 'n', ':', 'd', 's', '[', '4', 'U'};
  uint8_t ch[16];
  hybi00_challenge(up.n1, up.n2, key3, ch);
  Buf out;
  write_hybi00_switching(out, up.origin, hybi00_location(p.req, false), up.protocols.at(0), ch);
  EXPECT_EQ(
      "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
      "Upgrade: WebSocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Origin: http://example.com\r\n"
      "Sec-WebSocket-Location: ws://example.com/demo\r\n"
      "Sec-WebSocket-Protocol: sample\r\n"
      "\r\n"
      "8jKS'y:G*Co,Wxa-",
      out.str());
}
