// The RFC 6455 opening handshake: request parsing, upgrade checks and the 101 answer.
#include "handshake.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <string>

#include "http.h"
#include "test_buffer.h"

namespace {

const char kKey[] = "dGhlIHNhbXBsZSBub25jZQ==";

// The RFC's sample request, with extra fields appended before the blank line.
std::string request(const std::string& extra = "", const std::string& line = "GET /chat HTTP/1.1") {
  return line +
         "\r\n"
         "Host: server.example.com\r\n"
         "Upgrade: websocket\r\n"
         "Connection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Origin: http://example.com\r\n"
         "Sec-WebSocket-Version: 13\r\n" +
         extra + "\r\n";
}

// A request with only the given header fields (each "Name: value\r\n").
std::string with_fields(const std::string& fields) {
  return "GET / HTTP/1.1\r\n" + fields + "\r\n";
}

int parse(const std::string& head, Request& req, const char** why) {
  *why = "";
  return parse_request(head, req, why);
}

// Parses the request and checks the upgrade; returns the first non-zero status.
int upgrade_status(const std::string& head, Upgrade* out = nullptr) {
  static std::string keep;  // the views in Request/Upgrade point into this
  keep = head;
  Request req;
  const char* why = "";
  int st = parse_request(keep, req, &why);
  if (st) {
    ADD_FAILURE() << "parse_request failed: " << why;
    return st;
  }
  Upgrade up;
  why = "";
  st = check_upgrade(req, up, &why);
  if (st) {
    EXPECT_STRNE(why, "");
  }
  if (out) *out = up;
  return st;
}

std::string upgrade_fields(const std::string& upgrade, const std::string& connection,
                           const std::string& rest) {
  return with_fields("Host: h\r\n" + upgrade + connection + rest);
}

const std::string kStdUpgrade = "Upgrade: websocket\r\n";
const std::string kStdConnection = "Connection: Upgrade\r\n";
const std::string kStdVersion = "Sec-WebSocket-Version: 13\r\n";
const std::string kStdKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

// ---- websocket_accept ----

TEST(Handshake, AcceptForRfcSampleKey) {
  EXPECT_EQ(websocket_accept(kKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, AcceptIsPerKey) {
  EXPECT_NE(websocket_accept("AAAAAAAAAAAAAAAAAAAAAA=="), websocket_accept(kKey));
  EXPECT_EQ(websocket_accept("AAAAAAAAAAAAAAAAAAAAAA==").size(), 28u);
}

// ---- parse_request ----

TEST(ParseRequest, GoodRequest) {
  std::string head = request("X-Extra:  padded value \t\r\n", "GET /chat?room=1&x=y HTTP/1.1");
  Request req;
  const char* why = "";
  ASSERT_EQ(parse(head, req, &why), 0) << why;
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/chat?room=1&x=y");
  EXPECT_EQ(req.path, "/chat");
  EXPECT_EQ(req.query, "room=1&x=y");
  EXPECT_EQ(req.version_minor, 1);
  ASSERT_EQ(req.headers.size(), 7u);
  EXPECT_EQ(req.headers[0].name, "Host");
  EXPECT_EQ(req.headers[0].value, "server.example.com");
  // Optional whitespace around the value is trimmed.
  EXPECT_EQ(req.headers[6].name, "X-Extra");
  EXPECT_EQ(req.headers[6].value, "padded value");
  // Lookup is case-insensitive.
  ASSERT_NE(req.find("sec-websocket-key"), nullptr);
  EXPECT_EQ(req.find("SEC-WEBSOCKET-KEY")->value, kKey);
  EXPECT_EQ(req.find("Nope"), nullptr);
  EXPECT_EQ(req.count("host"), 1u);
}

TEST(ParseRequest, NoQueryAndLaterMinorVersion) {
  Request req;
  const char* why = "";
  std::string head = request("", "GET / HTTP/1.9");  // the views point into it
  ASSERT_EQ(parse(head, req, &why), 0) << why;
  EXPECT_EQ(req.path, "/");
  EXPECT_EQ(req.query, "");
  EXPECT_EQ(req.version_minor, 9);
  head = request("", "GET /a? HTTP/1.1");
  ASSERT_EQ(parse(head, req, &why), 0) << why;
  EXPECT_EQ(req.path, "/a");
  EXPECT_EQ(req.query, "");
}

TEST(ParseRequest, OtherMethodsParse) {
  // 405 is the session's decision; the parser accepts any token method.
  Request req;
  const char* why = "";
  std::string head = request("", "POST /chat HTTP/1.1");
  ASSERT_EQ(parse(head, req, &why), 0) << why;
  EXPECT_EQ(req.method, "POST");
}

TEST(ParseRequest, MalformedRequestLine) {
  const char* lines[] = {
      "GET /chat",                 // no version
      "GET  /chat HTTP/1.1",       // double space
      "GET /chat HTTP/1.1 extra",  // extra part
      "GET /chat  HTTP/1.1",       // double space before version
      "",                          // empty line
      "GET",                       // method only
      "G(T /chat HTTP/1.1",        // method not a token
      "GET /chat HTTP/1.x",        // version not digits
      "GET /chat HTTPS/1.1",       // not HTTP
      "GET /chat HTTP/11",         // no dot
      "GET /chat http/1.1",        // case matters
      "GET /chat HTTP/1.10",       // too long
  };
  for (const char* line : lines) {
    SCOPED_TRACE(line);
    Request req;
    const char* why = "";
    EXPECT_EQ(parse(request("", line), req, &why), http_status::kBadRequest);
    EXPECT_STRNE(why, "");
  }
  Request req;
  const char* why = "";
  EXPECT_EQ(parse("GET / HTTP/1.1", req, &why), http_status::kBadRequest);  // no CRLF at all
}

TEST(ParseRequest, BadVersion) {
  for (const char* line : {"GET /chat HTTP/1.0", "GET /chat HTTP/0.9", "GET /chat HTTP/2.0"}) {
    SCOPED_TRACE(line);
    Request req;
    const char* why = "";
    EXPECT_EQ(parse(request("", line), req, &why), http_status::kBadRequest);
    EXPECT_STRNE(why, "");
  }
}

TEST(ParseRequest, TargetMustBeOriginForm) {
  for (const char* line : {"GET http://example.com/chat HTTP/1.1", "GET * HTTP/1.1",
                           "GET example.com:80 HTTP/1.1", "GET chat HTTP/1.1",
                           "GET /ch\x7f"
                           "at HTTP/1.1",
                           "GET /caf\xc3\xa9 HTTP/1.1"}) {
    SCOPED_TRACE(line);
    Request req;
    const char* why = "";
    EXPECT_EQ(parse(request("", line), req, &why), http_status::kBadRequest);
  }
}

TEST(ParseRequest, ObsoleteLineFolding) {
  Request req;
  const char* why = "";
  EXPECT_EQ(parse(request("X-Long: first\r\n continued\r\n"), req, &why), http_status::kBadRequest);
  EXPECT_STRNE(why, "");
  EXPECT_EQ(parse(request("X-Long: first\r\n\tcontinued\r\n"), req, &why),
            http_status::kBadRequest);
}

TEST(ParseRequest, BadHeaderName) {
  for (const char* field : {"Bad Name: x\r\n", "Host : x\r\n", ": empty name\r\n",
                            "No-Colon-Here\r\n", "Bad(Name): x\r\n", "Bad\"Name: x\r\n"}) {
    SCOPED_TRACE(field);
    Request req;
    const char* why = "";
    EXPECT_EQ(parse(request(field), req, &why), http_status::kBadRequest);
    EXPECT_STRNE(why, "");
  }
}

TEST(ParseRequest, ControlCharacterInValue) {
  for (std::string value : {std::string("a\x01z"), std::string("a\x7fz"), std::string("a\nz"),
                            std::string("a\rz"), std::string("a\0z", 3)}) {
    SCOPED_TRACE(testing::PrintToString(value));
    Request req;
    const char* why = "";
    EXPECT_EQ(parse(request("X-Bad: " + value + "\r\n"), req, &why), http_status::kBadRequest);
    EXPECT_STRNE(why, "");
  }
  // Tabs and obs-text are allowed in values.
  Request req;
  const char* why = "";
  EXPECT_EQ(parse(request("X-Ok: a\tb \xC3\xA9\r\n"), req, &why), 0) << why;
}

TEST(ParseRequest, HostMustBeANameOrAddressWithAPort) {
  for (const char* good :
       {"example.com", "example.com:8080", "127.0.0.1", "[::1]:443", "[::1]", "a_b.local"})
    EXPECT_TRUE(valid_host(good)) << good;
  for (const char* bad : {"", "evil.com\"; x=1", "a b", "a/b", "user@host", "host:", "host:99999x",
                          "[::1", "[::1]x", "h:1:2", "%41.example"})
    EXPECT_FALSE(valid_host(bad)) << bad;
}

TEST(ParseRequest, HostRequiredExactlyOnce) {
  Request req;
  const char* why = "";
  EXPECT_EQ(parse(with_fields("Upgrade: websocket\r\n"), req, &why), http_status::kBadRequest);
  EXPECT_STRNE(why, "");
  EXPECT_EQ(parse(with_fields("Host: a\r\nHost: b\r\n"), req, &why), http_status::kBadRequest);
  EXPECT_EQ(parse(with_fields("host: a\r\n"), req, &why), 0) << why;
}

TEST(ParseRequest, TooManyHeaderFields) {
  std::string fields = "Host: h\r\n";
  for (size_t i = 1; i < kMaxHeaderFields; i++) fields += "X-" + std::to_string(i) + ": v\r\n";
  Request req;
  const char* why = "";
  EXPECT_EQ(parse(with_fields(fields), req, &why), 0) << why;  // exactly the limit
  EXPECT_EQ(req.headers.size(), kMaxHeaderFields);
  fields += "X-Last: v\r\n";
  EXPECT_EQ(parse(with_fields(fields), req, &why), http_status::kHeadersTooLarge);
  EXPECT_STRNE(why, "");
}

TEST(ParseRequest, UnterminatedHeaderBlock) {
  Request req;
  const char* why = "";
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: h", req, &why), http_status::kBadRequest);
}

// ---- check_upgrade ----

TEST(CheckUpgrade, RfcSampleRequest) {
  Upgrade up;
  ASSERT_EQ(upgrade_status(request(), &up), 0);
  EXPECT_EQ(up.key, kKey);
  EXPECT_EQ(up.origin, "http://example.com");
  EXPECT_TRUE(up.protocols.empty());
}

TEST(CheckUpgrade, MissingUpgradeIs426) {
  EXPECT_EQ(upgrade_status(upgrade_fields("", kStdConnection, kStdVersion + kStdKey)),
            http_status::kUpgradeRequired);
}

TEST(CheckUpgrade, OtherUpgradeIs426) {
  EXPECT_EQ(
      upgrade_status(upgrade_fields("Upgrade: h2c\r\n", kStdConnection, kStdVersion + kStdKey)),
      http_status::kUpgradeRequired);
  // Any case, and a list that contains websocket, are fine.
  EXPECT_EQ(upgrade_status(
                upgrade_fields("Upgrade: WebSocket\r\n", kStdConnection, kStdVersion + kStdKey)),
            0);
  EXPECT_EQ(upgrade_status(upgrade_fields("Upgrade: h2c, websocket\r\n", kStdConnection,
                                          kStdVersion + kStdKey)),
            0);
}

TEST(CheckUpgrade, ConnectionWithoutUpgradeTokenIs400) {
  EXPECT_EQ(upgrade_status(upgrade_fields(kStdUpgrade, "", kStdVersion + kStdKey)),
            http_status::kBadRequest);
  EXPECT_EQ(upgrade_status(
                upgrade_fields(kStdUpgrade, "Connection: keep-alive\r\n", kStdVersion + kStdKey)),
            http_status::kBadRequest);
  EXPECT_EQ(upgrade_status(upgrade_fields(kStdUpgrade, "Connection: upgrade-please\r\n",
                                          kStdVersion + kStdKey)),
            http_status::kBadRequest);
}

TEST(CheckUpgrade, ConnectionTokenListAnyCase) {
  for (const char* conn : {"Connection: keep-alive, Upgrade\r\n", "Connection: UPGRADE\r\n",
                           "Connection: upgrade,keep-alive\r\n", "Connection:   uPgRaDe   \r\n",
                           "Connection: keep-alive\r\nConnection: Upgrade\r\n"}) {
    SCOPED_TRACE(conn);
    EXPECT_EQ(upgrade_status(upgrade_fields(kStdUpgrade, conn, kStdVersion + kStdKey)), 0);
  }
}

TEST(CheckUpgrade, UnsupportedVersionIs426) {
  for (const char* v : {"8", "7", "12", "14", "13, 8"}) {
    SCOPED_TRACE(v);
    EXPECT_EQ(upgrade_status(
                  upgrade_fields(kStdUpgrade, kStdConnection,
                                 "Sec-WebSocket-Version: " + std::string(v) + "\r\n" + kStdKey)),
              http_status::kUpgradeRequired);
  }
  // Two version fields are not a single 13.
  EXPECT_EQ(upgrade_status(upgrade_fields(kStdUpgrade, kStdConnection,
                                          kStdVersion + "Sec-WebSocket-Version: 8\r\n" + kStdKey)),
            http_status::kUpgradeRequired);
}

TEST(CheckUpgrade, MissingVersionIs400) {
  EXPECT_EQ(upgrade_status(upgrade_fields(kStdUpgrade, kStdConnection, kStdKey)),
            http_status::kBadRequest);
}

TEST(CheckUpgrade, Hybi00KeysWithoutVersionAreNotRfc6455) {
  // check_upgrade is the RFC 6455 check; a hybi-00 request goes to check_hybi00 instead.
  EXPECT_EQ(upgrade_status(upgrade_fields("Upgrade: WebSocket\r\n", kStdConnection,
                                          "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
                                          "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n")),
            http_status::kBadRequest);
}

TEST(CheckUpgrade, BadKeyIs400) {
  const char* keys[] = {
      "dGhlIHNhbXBsZSBub25jZQ=",       // 23 characters
      "dGhlIHNhbXBsZSBub25jZQ===",     // 25 characters
      "",                              // empty
      "dGhlIHNhbXBsZSBub25jZQ",        // no padding
      "dGhl!HNhbXBsZSBub25jZQ==",      // not base64
      "dGhlIHNhbXBsZSBub2 5jZQ==",     // space inside
      "dGhlIHNhbXBsZSBub25jZQ..",      // not padding
      "dGhlIHNhbXBsZSBub25jZQ1x",      // 24 characters, decodes to 18 bytes
      "dGhlIHNhbXBsZSBub25jZQ=A",      // padding in the wrong place
      "dGhlIHNhbXBsZSBub25jZQ==dGhl",  // trailing garbage
  };
  for (const char* key : keys) {
    SCOPED_TRACE(key);
    EXPECT_EQ(upgrade_status(upgrade_fields(kStdUpgrade, kStdConnection,
                                            kStdVersion + "Sec-WebSocket-Key: " + key + "\r\n")),
              http_status::kBadRequest);
  }
  EXPECT_EQ(upgrade_status(upgrade_fields(kStdUpgrade, kStdConnection, kStdVersion)),
            http_status::kBadRequest);  // missing
  EXPECT_EQ(
      upgrade_status(upgrade_fields(kStdUpgrade, kStdConnection, kStdVersion + kStdKey + kStdKey)),
      http_status::kBadRequest);  // duplicate
  EXPECT_EQ(upgrade_status(upgrade_fields(
                kStdUpgrade, kStdConnection,
                kStdVersion + kStdKey + "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n")),
            http_status::kBadRequest);  // two different keys
}

TEST(CheckUpgrade, PaddingCharacterInsideKeyIs400) {
  // "=" may only pad the end: these 24-character keys are not base64 of 16 bytes.
  for (const char* key :
       {"AAAAAAAAAAAAAAAAAAAA=A==", "AAAA=AAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAAAA==="}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(upgrade_status(upgrade_fields(kStdUpgrade, kStdConnection,
                                            kStdVersion + "Sec-WebSocket-Key: " + key + "\r\n")),
              http_status::kBadRequest);
  }
}

TEST(CheckUpgrade, OtherValidKeys) {
  for (const char* key :
       {"AAAAAAAAAAAAAAAAAAAAAA==", "/////////////////////w==", "x3JJHMbDL1EzLkh9GBhXDw=="}) {
    SCOPED_TRACE(key);
    Upgrade up;
    EXPECT_EQ(upgrade_status(upgrade_fields(kStdUpgrade, kStdConnection,
                                            kStdVersion + "Sec-WebSocket-Key: " + key + "\r\n"),
                             &up),
              0);
    EXPECT_EQ(up.key, key);
  }
}

TEST(CheckUpgrade, ProtocolsInOrderAcrossHeaders) {
  Upgrade up;
  ASSERT_EQ(upgrade_status(request("Sec-WebSocket-Protocol: chat, superchat\r\n"
                                   "Sec-WebSocket-Protocol: v2.json\r\n"
                                   "sec-websocket-protocol:  binary ,base64 \r\n"),
                           &up),
            0);
  ASSERT_EQ(up.protocols.size(), 5u);
  EXPECT_EQ(up.protocols[0], "chat");
  EXPECT_EQ(up.protocols[1], "superchat");
  EXPECT_EQ(up.protocols[2], "v2.json");
  EXPECT_EQ(up.protocols[3], "binary");
  EXPECT_EQ(up.protocols[4], "base64");
}

TEST(CheckUpgrade, MalformedProtocolListIs400) {
  for (const char* p : {"chat superchat", "chat;q=1", "\"chat\"", "chat, sup/er", "ch@t"}) {
    SCOPED_TRACE(p);
    EXPECT_EQ(upgrade_status(request("Sec-WebSocket-Protocol: " + std::string(p) + "\r\n")),
              http_status::kBadRequest);
  }
}

TEST(CheckUpgrade, OriginOptionalButNotTwice) {
  Upgrade up;
  ASSERT_EQ(upgrade_status(upgrade_fields(kStdUpgrade, kStdConnection, kStdVersion + kStdKey), &up),
            0);
  EXPECT_EQ(up.origin, "");
  EXPECT_EQ(upgrade_status(request("Origin: http://evil.example\r\n")), http_status::kBadRequest);
}

// ---- find_request_head ----

TEST(FindRequestHead, IncompleteAndComplete) {
  Buf in;
  EXPECT_EQ(find_request_head(in), 0);
  in.add("GET / HTTP/1.1\r\nHost: h\r\n");
  EXPECT_EQ(find_request_head(in), 0);
  in.add("\r");
  EXPECT_EQ(find_request_head(in), 0);
  in.add("\n");
  const long head_len = static_cast<long>(std::string("GET / HTTP/1.1\r\nHost: h\r\n\r\n").size());
  EXPECT_EQ(find_request_head(in), head_len);
  // Pipelined bytes after the head do not count and are left alone.
  in.add("\x81\x85 frame bytes \r\n\r\n");
  EXPECT_EQ(find_request_head(in), head_len);
  EXPECT_EQ(evbuffer_get_length(in), static_cast<size_t>(head_len) + 19);
}

TEST(FindRequestHead, OverCapWithoutTerminator) {
  Buf in;
  in.add("GET /" + std::string(kMaxRequestHead - 6, 'a'));
  EXPECT_EQ(evbuffer_get_length(in), kMaxRequestHead - 1);
  EXPECT_EQ(find_request_head(in), 0);  // one byte short of the cap: may still finish
  in.add("a");
  EXPECT_EQ(find_request_head(in), -1);
  in.add(std::string(5000, 'b'));
  EXPECT_EQ(find_request_head(in), -1);
}

TEST(FindRequestHead, TerminatorAtAndBeyondCap) {
  std::string start = "GET / HTTP/1.1\r\nX: ";
  std::string at_cap = start + std::string(kMaxRequestHead - start.size() - 4, 'v') + "\r\n\r\n";
  ASSERT_EQ(at_cap.size(), kMaxRequestHead);
  Buf a;
  a.add(at_cap);
  EXPECT_EQ(find_request_head(a), static_cast<long>(kMaxRequestHead));
  std::string beyond = start + std::string(kMaxRequestHead - start.size() - 3, 'v') + "\r\n\r\n";
  Buf b;
  b.add(beyond);
  EXPECT_EQ(find_request_head(b), -1);
  // Smaller caps work the same way.
  Buf c;
  c.add("GET / HTTP/1.1\r\n\r\n");
  size_t s18 = 0, s17 = 0;
  EXPECT_EQ(find_request_head(c, s18, 18), 18);
  EXPECT_EQ(find_request_head(c, s17, 17), -1);
}

// ---- write_switching ----

TEST(WriteSwitching, WithoutProtocol) {
  Buf out;
  write_switching(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "");
  EXPECT_EQ(out.str(),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "\r\n");
}

TEST(WriteSwitching, WithProtocol) {
  Buf out;
  write_switching(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "chat");
  EXPECT_EQ(out.str(),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: chat\r\n"
            "\r\n");
}

TEST(WriteSwitching, UsesOnlyTheGivenViews) {
  // The views need not be NUL-terminated.
  std::string backing = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=XXXXchatYYY";
  Buf out;
  write_switching(out, std::string_view(backing).substr(0, 28),
                  std::string_view(backing).substr(32, 4));
  EXPECT_NE(out.str().find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos);
  EXPECT_NE(out.str().find("Sec-WebSocket-Protocol: chat\r\n"), std::string::npos);
  EXPECT_EQ(out.str().find("XXXX"), std::string::npos);
  EXPECT_EQ(out.str().find("YYY"), std::string::npos);
}

// ---- has_token ----

TEST(HasToken, Lists) {
  EXPECT_TRUE(has_token("Upgrade", "upgrade"));
  EXPECT_TRUE(has_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(has_token("keep-alive,upgrade", "UPGRADE"));
  EXPECT_TRUE(has_token("  upgrade  ", "upgrade"));
  EXPECT_TRUE(has_token(",, upgrade ,,", "upgrade"));
  EXPECT_TRUE(has_token("a,\tupgrade\t,b", "upgrade"));
  EXPECT_FALSE(has_token("", "upgrade"));
  EXPECT_FALSE(has_token("keep-alive", "upgrade"));
  EXPECT_FALSE(has_token("upgrade2", "upgrade"));
  EXPECT_FALSE(has_token("xupgrade", "upgrade"));
  EXPECT_FALSE(has_token("up grade", "upgrade"));
  EXPECT_FALSE(has_token("upgrade;q=1", "upgrade"));
  EXPECT_FALSE(has_token(",,,", "upgrade"));
}

}  // namespace
