// The proxied handshake for ws:// routes: the request written to the backend (target, Host,
// hop-by-hop removal, forwarding headers) and the checks on the backend's answer.
#include "proxy.h"

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "cidr.h"
#include "handshake.h"
#include "test_buffer.h"

namespace {

const char kKey[] = "dGhlIHNhbXBsZSBub25jZQ==";
const char kAccept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// A parsed request that owns the bytes its views point into.
struct Req {
  std::string head;
  Request req;
};

std::unique_ptr<Req> parse(const std::string& head) {
  auto r = std::make_unique<Req>();
  r->head = head;
  const char* why = "";
  EXPECT_EQ(0, parse_request(r->head, r->req, &why)) << why;
  return r;
}

// An upgrade request for `target` with the standard fields and `extra` ("Name: v\r\n" lines).
std::unique_ptr<Req> upgrade(const std::string& target, const std::string& extra = "") {
  return parse("GET " + target +
               " HTTP/1.1\r\n"
               "Host: gate.example.com\r\n"
               "Upgrade: websocket\r\n"
               "Connection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n" +
               extra + "\r\n");
}

BackendAddr ws(const std::string& host, int port, const std::string& path = "") {
  BackendAddr b;
  b.kind = BackendAddr::Kind::kWs;
  b.host = host;
  b.port = port;
  b.path = path;
  b.text = "ws://test";
  return b;
}

std::string written(const Request& req, const BackendAddr& b, std::string_view protocols,
                    std::string_view ip, bool forwarded, bool tls = false,
                    const CidrSet* trusted = nullptr) {
  Buf out;
  const HeaderField* key = req.find("Sec-WebSocket-Key");
  ClientInfo client{ip, tls};
  client.proxies = trusted;
  client.trusted = trusted && trusted->contains(ip);
  write_backend_request(out, req, b, key ? key->value : "", protocols, client, forwarded);
  return out.str();
}

// The fields wsgate always writes first, for a backend at 127.0.0.1:9001.
std::string fixed_head(const std::string& target) {
  return "GET " + target +
         " HTTP/1.1\r\n"
         "Host: 127.0.0.1:9001\r\n"
         "Upgrade: websocket\r\n"
         "Connection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n";
}

// ---- backend_target ----

TEST(BackendTarget, NoPathPassesClientTargetWithQuery) {
  auto r = upgrade("/chat/room?id=7&x=y");
  EXPECT_EQ("/chat/room?id=7&x=y", backend_target(r->req, ws("h", 80)));
}

TEST(BackendTarget, SlashPathPassesClientTargetWithQuery) {
  auto r = upgrade("/chat/room?id=7");
  EXPECT_EQ("/chat/room?id=7", backend_target(r->req, ws("h", 80, "/")));
}

TEST(BackendTarget, NoPathNoQuery) {
  auto r = upgrade("/a/b");
  EXPECT_EQ("/a/b", backend_target(r->req, ws("h", 80)));
}

TEST(BackendTarget, PathReplacesClientPathKeepsQuery) {
  auto r = upgrade("/chat/room?id=7&x=y");
  EXPECT_EQ("/socket?id=7&x=y", backend_target(r->req, ws("h", 80, "/socket")));
}

TEST(BackendTarget, PathWithoutClientQuery) {
  auto r = upgrade("/chat/room");
  EXPECT_EQ("/socket/v2", backend_target(r->req, ws("h", 80, "/socket/v2")));
}

TEST(BackendTarget, EmptyQueryAddsNoQuestionMark) {
  auto r = upgrade("/chat?");
  EXPECT_EQ("/socket", backend_target(r->req, ws("h", 80, "/socket")));
}

// The session puts the normalized path in req.path; the query goes on as the client sent it.
TEST(BackendTarget, NormalizedPathWithClientQuery) {
  auto r = upgrade("/app/./x?q=%2e%2e/../y");
  r->req.path = "/app/x";
  EXPECT_EQ("/app/x?q=%2e%2e/../y", backend_target(r->req, ws("h", 80)));
}

// ---- backend_host ----

TEST(BackendHost, DefaultPortOmitted) {
  EXPECT_EQ("backend.example", backend_host(ws("backend.example", 80)));
  EXPECT_EQ("127.0.0.1", backend_host(ws("127.0.0.1", 80)));
}

TEST(BackendHost, OtherPortKept) {
  EXPECT_EQ("backend.example:9001", backend_host(ws("backend.example", 9001)));
  EXPECT_EQ("127.0.0.1:443", backend_host(ws("127.0.0.1", 443)));
}

TEST(BackendHost, Ipv6Bracketed) {
  EXPECT_EQ("[::1]:9001", backend_host(ws("::1", 9001)));
  EXPECT_EQ("[2001:db8::5]", backend_host(ws("2001:db8::5", 80)));
}

TEST(BackendHost, WssDefaultIs443) {
  BackendAddr b = ws("h", 443);
  b.kind = BackendAddr::Kind::kWss;
  EXPECT_EQ("h", backend_host(b));
  b.port = 80;
  EXPECT_EQ("h:80", backend_host(b));
}

// ---- deflate_offers ----

TEST(DeflateOffers, NoneOffered) {
  auto r = upgrade("/");
  EXPECT_EQ("", deflate_offers(r->req));
}

TEST(DeflateOffers, KeepsOnlyDeflate) {
  auto r = upgrade("/",
                   "Sec-WebSocket-Extensions: x-webkit-deflate-frame, permessage-deflate; "
                   "client_max_window_bits, foo; bar=1\r\n");
  EXPECT_EQ("permessage-deflate; client_max_window_bits", deflate_offers(r->req));
}

TEST(DeflateOffers, AcrossRepeatedHeaders) {
  auto r = upgrade("/",
                   "Sec-WebSocket-Extensions: foo\r\n"
                   "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
                   "sec-websocket-extensions: bar, Permessage-Deflate\r\n");
  EXPECT_EQ("permessage-deflate; server_no_context_takeover, Permessage-Deflate",
            deflate_offers(r->req));
}

TEST(DeflateOffers, OnlyOthers) {
  auto r = upgrade("/", "Sec-WebSocket-Extensions: foo, permessage-deflatex\r\n");
  EXPECT_EQ("", deflate_offers(r->req));
}

// ---- write_backend_request ----

TEST(WriteBackendRequest, MinimalWithoutForwarding) {
  auto r = upgrade("/chat?a=1");
  EXPECT_EQ(fixed_head("/socket?a=1") + "\r\n",
            written(r->req, ws("127.0.0.1", 9001, "/socket"), "", "10.0.0.1", false));
}

TEST(WriteBackendRequest, HopByHopRemoved) {
  auto r = upgrade("/x",
                   "Keep-Alive: timeout=5\r\n"
                   "Proxy-Connection: keep-alive\r\n"
                   "TE: trailers\r\n"
                   "Trailer: X-Sum\r\n"
                   "Transfer-Encoding: chunked\r\n"
                   "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
                   "Connection: X-Private, x-other\r\n"
                   "X-Private: secret\r\n"
                   "X-Other: also secret\r\n"
                   "X-Kept: yes\r\n");
  EXPECT_EQ(fixed_head("/x") + "X-Kept: yes\r\n\r\n",
            written(r->req, ws("127.0.0.1", 9001), "", "10.0.0.1", false));
}

TEST(WriteBackendRequest, EndToEndPassedThrough) {
  auto r = upgrade("/x",
                   "Origin: https://app.example\r\n"
                   "Cookie: a=1\r\n"
                   "Cookie: b=2\r\n"
                   "Authorization: Bearer t0k3n\r\n"
                   "User-Agent: test/1.0\r\n");
  EXPECT_EQ(fixed_head("/x") +
                "Origin: https://app.example\r\n"
                "Cookie: a=1\r\n"
                "Cookie: b=2\r\n"
                "Authorization: Bearer t0k3n\r\n"
                "User-Agent: test/1.0\r\n\r\n",
            written(r->req, ws("127.0.0.1", 9001), "", "10.0.0.1", false));
}

TEST(WriteBackendRequest, ClientWebSocketFieldsRebuilt) {
  auto r = upgrade("/x",
                   "Sec-WebSocket-Protocol: chat, superchat\r\n"
                   "Sec-WebSocket-Extensions: foo, permessage-deflate; client_max_window_bits\r\n"
                   "Sec-WebSocket-Other: x\r\n"
                   "Content-Length: 0\r\n");
  EXPECT_EQ(fixed_head("/x") +
                "Sec-WebSocket-Protocol: chat, superchat\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
            written(r->req, ws("127.0.0.1", 9001), "chat, superchat", "10.0.0.1", false));
}

TEST(WriteBackendRequest, ProtocolsArgumentIsTheOffer) {
  auto r = upgrade("/x", "Sec-WebSocket-Protocol: superchat, chat\r\n");
  EXPECT_EQ(fixed_head("/x") + "Sec-WebSocket-Protocol: chat\r\n\r\n",
            written(r->req, ws("127.0.0.1", 9001), "chat", "10.0.0.1", false));
}

TEST(WriteBackendRequest, ForwardedNewChain) {
  auto r = upgrade("/x");
  EXPECT_EQ(fixed_head("/x") +
                "X-Forwarded-For: 192.0.2.10\r\n"
                "X-Real-IP: 192.0.2.10\r\n"
                "X-Forwarded-Proto: http\r\n"
                "X-Forwarded-Host: gate.example.com\r\n"
                "Forwarded: for=192.0.2.10;host=\"gate.example.com\";proto=http\r\n\r\n",
            written(r->req, ws("127.0.0.1", 9001), "", "192.0.2.10", true));
}

// trusted_proxies holding the peer: its chains are extended (two fields folded into one), its
// X-Forwarded-Proto/-Host/-Port kept, and X-Real-IP is the right-most untrusted element.
TEST(WriteBackendRequest, TrustedPeerChainExtendedFoldingTwoFields) {
  CidrSet trusted;
  std::string err;
  ASSERT_TRUE(trusted.add("192.0.2.0/24, 198.51.100.3", err)) << err;
  auto r = upgrade("/x",
                   "X-Forwarded-For: 203.0.113.1, 198.51.100.2\r\n"
                   "X-Real: keep\r\n"
                   "x-forwarded-for: 198.51.100.3\r\n"
                   "X-Forwarded-Proto: https\r\n"
                   "X-Forwarded-Host: app.example\r\n"
                   "X-Forwarded-Port: 443\r\n"
                   "X-Real-IP: 203.0.113.66\r\n"
                   "Forwarded: for=203.0.113.1\r\n");
  EXPECT_EQ(fixed_head("/x") +
                "X-Real: keep\r\n"
                "X-Forwarded-For: 203.0.113.1, 198.51.100.2, 198.51.100.3, 192.0.2.10\r\n"
                "X-Real-IP: 198.51.100.2\r\n"
                "X-Forwarded-Proto: https\r\n"
                "X-Forwarded-Host: app.example\r\n"
                "X-Forwarded-Port: 443\r\n"
                "Forwarded: for=203.0.113.1, "
                "for=192.0.2.10;host=\"gate.example.com\";proto=http\r\n\r\n",
            written(r->req, ws("127.0.0.1", 9001), "", "192.0.2.10", true, false, &trusted));
}

// Without trusted_proxies, or from a peer outside them, whatever the client claims is replaced.
TEST(WriteBackendRequest, UntrustedPeerChainReplaced) {
  CidrSet trusted;
  std::string err;
  ASSERT_TRUE(trusted.add("10.0.0.0/8", err)) << err;
  auto r = upgrade("/x",
                   "X-Forwarded-For: 203.0.113.1, 198.51.100.2\r\n"
                   "X-Real: keep\r\n"
                   "x-forwarded-for: 198.51.100.3\r\n"
                   "X-Forwarded-Proto: https\r\n"
                   "X-Forwarded-Host: spoofed.example\r\n"
                   "X-Forwarded-Port: 443\r\n"
                   "Forwarded: for=203.0.113.1\r\n");
  std::string expected = fixed_head("/x") +
                         "X-Real: keep\r\n"
                         "X-Forwarded-For: 192.0.2.10\r\n"
                         "X-Real-IP: 192.0.2.10\r\n"
                         "X-Forwarded-Proto: http\r\n"
                         "X-Forwarded-Host: gate.example.com\r\n"
                         "Forwarded: for=192.0.2.10;host=\"gate.example.com\";proto=http\r\n\r\n";
  EXPECT_EQ(expected, written(r->req, ws("127.0.0.1", 9001), "", "192.0.2.10", true));
  EXPECT_EQ(expected,
            written(r->req, ws("127.0.0.1", 9001), "", "192.0.2.10", true, false, &trusted));
}

TEST(WriteBackendRequest, ClientIdentityHeadersAreDroppedWhenForwarding) {
  auto r = upgrade("/x",
                   "X-Real-IP: 203.0.113.66\r\n"
                   "True-Client-IP: 203.0.113.66\r\n"
                   "X_Forwarded_For: 203.0.113.66\r\n"
                   "X-Custom_Name: dropped too\r\n"
                   "X-Other: kept\r\n");
  std::string on = written(r->req, ws("127.0.0.1", 9001), "", "192.0.2.10", true);
  EXPECT_EQ(on.find("203.0.113.66"), std::string::npos) << on;
  EXPECT_EQ(on.find("X-Custom_Name"), std::string::npos) << on;
  EXPECT_NE(on.find("\r\nX-Other: kept\r\n"), std::string::npos) << on;
  EXPECT_NE(on.find("\r\nX-Real-IP: 192.0.2.10\r\n"), std::string::npos) << on;
  std::string off = written(r->req, ws("127.0.0.1", 9001), "", "192.0.2.10", false);
  EXPECT_NE(off.find("\r\nX-Real-IP: 203.0.113.66\r\n"), std::string::npos)
      << "forwarded = off leaves identity headers alone";
  EXPECT_EQ(off.find("_"), std::string::npos) << "underscore names never go on: " << off;
}

TEST(WriteBackendRequest, ForwardedIpv6Quoted) {
  auto r = upgrade("/x");
  std::string s = written(r->req, ws("127.0.0.1", 9001), "", "::1", true);
  EXPECT_NE(std::string::npos, s.find("\r\nX-Forwarded-For: ::1\r\n")) << s;
  EXPECT_NE(std::string::npos,
            s.find("\r\nForwarded: for=\"[::1]\";host=\"gate.example.com\";proto=http\r\n"))
      << s;
}

TEST(WriteBackendRequest, ForwardedProtoHttpsForTls) {
  auto r = upgrade("/x");
  std::string s = written(r->req, ws("127.0.0.1", 9001), "", "192.0.2.10", true, true);
  EXPECT_NE(std::string::npos, s.find("\r\nX-Forwarded-Proto: https\r\n")) << s;
  EXPECT_NE(std::string::npos, s.find(";proto=https\r\n")) << s;
}

TEST(WriteBackendRequest, ForwardedOffPassesExistingUntouched) {
  auto r = upgrade("/x",
                   "X-Forwarded-For: 203.0.113.1\r\n"
                   "X-Forwarded-For: 198.51.100.3\r\n"
                   "Forwarded: for=203.0.113.1\r\n");
  EXPECT_EQ(fixed_head("/x") +
                "X-Forwarded-For: 203.0.113.1\r\n"
                "X-Forwarded-For: 198.51.100.3\r\n"
                "Forwarded: for=203.0.113.1\r\n\r\n",
            written(r->req, ws("127.0.0.1", 9001), "", "192.0.2.10", false));
}

// RFC 7239 section 4: a value that is not a token goes in a quoted-string, with '"' and '\\'
// escaped. The client's Host must not be able to add parameters to wsgate's own element.
TEST(WriteBackendRequest, ForwardedHostCannotAddParameters) {
  // A Host that tries to add parameters to wsgate's Forwarded element never gets that far: it
  // is no host name, so the request is refused before any backend hears of it.
  Request req;
  const char* why = "";
  EXPECT_EQ(parse_request("GET /x HTTP/1.1\r\nHost: a\";for=6.6.6.6;x=\"\r\n\r\n", req, &why), 400);
  auto r = upgrade("/x");
  std::string s = written(r->req, ws("127.0.0.1", 9001), "", "192.0.2.10", true);
  EXPECT_NE(std::string::npos, s.find(";host=\"gate.example.com\";proto=http\r\n")) << s;
}

TEST(WriteBackendRequest, HostIsTheBackend) {
  auto r = upgrade("/x");
  std::string s = written(r->req, ws("backend.internal", 80, "/ws"), "", "192.0.2.10", false);
  EXPECT_EQ(0u, s.find("GET /ws HTTP/1.1\r\nHost: backend.internal\r\n")) << s;
  EXPECT_EQ(std::string::npos, s.find("gate.example.com")) << s;
}

// ---- parse_response ----

struct Resp {
  std::string head;
  Response resp;
  const char* why = "";
  bool ok = false;
};

std::unique_ptr<Resp> response(const std::string& head) {
  auto r = std::make_unique<Resp>();
  r->head = head;
  r->ok = parse_response(r->head, r->resp, &r->why);
  return r;
}

std::string switching(const std::string& extra = "", const std::string& accept = kAccept) {
  return "HTTP/1.1 101 Switching Protocols\r\n"
         "Upgrade: websocket\r\n"
         "Connection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         accept + "\r\n" + extra + "\r\n";
}

TEST(ParseResponse, Good) {
  auto r = response(switching("X-Thing: 1\r\n"));
  ASSERT_TRUE(r->ok) << r->why;
  EXPECT_EQ(101, r->resp.status);
  EXPECT_EQ("Switching Protocols", r->resp.reason);
  ASSERT_EQ(4u, r->resp.headers.size());
  EXPECT_EQ("Upgrade", r->resp.headers[0].name);
  EXPECT_EQ("websocket", r->resp.headers[0].value);
  EXPECT_EQ("X-Thing", r->resp.headers[3].name);
}

TEST(ParseResponse, RefusalWithEmptyOrMissingReason) {
  auto r = response("HTTP/1.1 403 \r\nContent-Length: 4\r\n\r\n");
  ASSERT_TRUE(r->ok) << r->why;
  EXPECT_EQ(403, r->resp.status);
  EXPECT_EQ("", r->resp.reason);
  auto r2 = response("HTTP/1.0 404\r\n\r\n");
  ASSERT_TRUE(r2->ok) << r2->why;
  EXPECT_EQ(404, r2->resp.status);
  auto r3 = response("HTTP/1.1 500 Internal Server Error\r\n\r\n");
  ASSERT_TRUE(r3->ok) << r3->why;
  EXPECT_EQ("Internal Server Error", r3->resp.reason);
}

TEST(ParseResponse, MalformedStatusLine) {
  for (const char* h :
       {"", "HTTP/1.1 101", "garbage\r\n\r\n", "HTTP/2 101 OK\r\n\r\n", "HTTP/1.1  101 OK\r\n\r\n",
        "HTTP/1.1 101OK\r\n\r\n", "HTTP/1.1 1011 OK\r\n\r\n", "http/1.1 101 OK\r\n\r\n",
        "HTTP/1.1 10\r\n\r\n", "ICY 200 OK\r\n\r\n", "HTTP/1.x 101 OK\r\n\r\n"}) {
    auto r = response(h);
    EXPECT_FALSE(r->ok) << "accepted: " << h;
  }
}

TEST(ParseResponse, ThreeDigitStatus) {
  for (const char* h :
       {"HTTP/1.1 1a1 X\r\n\r\n", "HTTP/1.1 -01 X\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n",
        "HTTP/1.1 000 X\r\n\r\n", "HTTP/1.1 +01 X\r\n\r\n"}) {
    auto r = response(h);
    EXPECT_FALSE(r->ok) << "accepted: " << h;
    EXPECT_STREQ("malformed status code", r->why) << h;
  }
  auto r = response("HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_TRUE(r->ok) << r->why;
  auto r2 = response("HTTP/1.1 599 X\r\n\r\n");
  EXPECT_TRUE(r2->ok) << r2->why;
}

TEST(ParseResponse, MalformedField) {
  auto r = response("HTTP/1.1 101 OK\r\nNo colon here\r\n\r\n");
  EXPECT_FALSE(r->ok);
  auto r2 = response("HTTP/1.1 101 OK\r\nA: b\r\n folded\r\n\r\n");
  EXPECT_FALSE(r2->ok);
}

// ---- check_switching ----

struct Check {
  bool ok;
  Switched sw;
  std::string why;
  std::string protocol, extensions;
};

Check check(const std::string& head, std::vector<std::string_view> offered = {},
            bool deflate = false) {
  auto r = response(head);
  EXPECT_TRUE(r->ok) << r->why;
  Check c;
  const char* why = "";
  c.ok = check_switching(r->resp, kKey, offered, deflate, c.sw, &why);
  c.why = why;
  c.protocol = std::string(c.sw.protocol);
  c.extensions = std::string(c.sw.extensions);
  return c;
}

TEST(CheckSwitching, Good) {
  Check c = check(switching());
  EXPECT_TRUE(c.ok) << c.why;
  EXPECT_EQ("", c.protocol);
  EXPECT_EQ("", c.extensions);
}

TEST(CheckSwitching, TokensAnyCase) {
  Check c = check(
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, "
      "UPGRADE\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  EXPECT_TRUE(c.ok) << c.why;
}

TEST(CheckSwitching, NotSwitching) {
  Check c = check("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_FALSE(c.ok);
}

TEST(CheckSwitching, WrongAccept) {
  EXPECT_FALSE(check(switching("", "dGhlIHNhbXBsZSBub25jZQ==")).ok);
  EXPECT_FALSE(check(switching("", "")).ok);
  Check c = check(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  EXPECT_FALSE(c.ok);
  EXPECT_NE(std::string::npos, c.why.find("Accept")) << c.why;
}

TEST(CheckSwitching, MissingUpgradeOrConnection) {
  std::string accept = std::string("Sec-WebSocket-Accept: ") + kAccept + "\r\n";
  EXPECT_FALSE(check("HTTP/1.1 101 X\r\nConnection: Upgrade\r\n" + accept + "\r\n").ok);
  EXPECT_FALSE(check("HTTP/1.1 101 X\r\nUpgrade: websocket\r\n" + accept + "\r\n").ok);
  EXPECT_FALSE(
      check("HTTP/1.1 101 X\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" + accept + "\r\n").ok);
  EXPECT_FALSE(
      check("HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: close\r\n" + accept + "\r\n").ok);
}

TEST(CheckSwitching, ProtocolWithinOffer) {
  Check c = check(switching("Sec-WebSocket-Protocol: superchat\r\n"), {"chat", "superchat"});
  EXPECT_TRUE(c.ok) << c.why;
  EXPECT_EQ("superchat", c.protocol);
}

TEST(CheckSwitching, ProtocolNotOffered) {
  EXPECT_FALSE(check(switching("Sec-WebSocket-Protocol: mqtt\r\n"), {"chat"}).ok);
  Check c = check(switching("Sec-WebSocket-Protocol: chat\r\n"));
  EXPECT_FALSE(c.ok);
  EXPECT_NE(std::string::npos, c.why.find("subprotocol")) << c.why;
}

TEST(CheckSwitching, NoProtocolChosenIsFine) {
  Check c = check(switching(), {"chat"});
  EXPECT_TRUE(c.ok) << c.why;
  EXPECT_EQ("", c.protocol);
}

TEST(CheckSwitching, ExtensionNotOffered) {
  Check c = check(switching("Sec-WebSocket-Extensions: permessage-deflate\r\n"));
  EXPECT_FALSE(c.ok);
  EXPECT_NE(std::string::npos, c.why.find("extension")) << c.why;
}

TEST(CheckSwitching, OtherExtensionRejectedEvenWithDeflateOffered) {
  EXPECT_FALSE(check(switching("Sec-WebSocket-Extensions: x-foo\r\n"), {}, true).ok);
  EXPECT_FALSE(
      check(switching("Sec-WebSocket-Extensions: permessage-deflate, x-foo\r\n"), {}, true).ok);
  EXPECT_FALSE(check(switching("Sec-WebSocket-Extensions: permessage-deflate, "
                               "permessage-deflate\r\n"),
                     {}, true)
                   .ok);
}

// RFC 6455 section 4.1: the client fails the connection if the response names an extension it
// did not offer, in whichever Sec-WebSocket-Extensions field it appears.
TEST(CheckSwitching, ExtensionInSecondFieldNotOffered) {
  Check c = check(switching("Sec-WebSocket-Extensions: permessage-deflate\r\n"
                            "Sec-WebSocket-Extensions: x-custom\r\n"),
                  {}, true);
  EXPECT_FALSE(c.ok) << "accepted with extensions \"" << c.extensions << "\"";
}

TEST(CheckSwitching, DeflateAcceptedWhenOffered) {
  Check c = check(
      switching("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"), {},
      true);
  EXPECT_TRUE(c.ok) << c.why;
  EXPECT_EQ("permessage-deflate; server_no_context_takeover", c.extensions);
}

TEST(CheckSwitching, DeflateOfferedButNotTaken) {
  Check c = check(switching(), {}, true);
  EXPECT_TRUE(c.ok) << c.why;
  EXPECT_EQ("", c.extensions);
}

}  // namespace

// ---- write_relayed_fields ----

std::string relayed(const Response& resp, bool switching) {
  Buf out;
  write_relayed_fields(out, resp, switching);
  return out.str();
}

TEST(WriteRelayedFields, SwitchingKeepsEndToEndFieldsOnly) {
  auto r = response(switching(
      "Set-Cookie: sid=1\r\nSec-WebSocket-Protocol: chat\r\nKeep-Alive: 5\r\n"
      "Connection: X-Private\r\nX-Private: secret\r\nContent-Length: 0\r\nServer: be\r\n"));
  ASSERT_TRUE(r->ok) << r->why;
  EXPECT_EQ("Set-Cookie: sid=1\r\nServer: be\r\n", relayed(r->resp, true));
}

TEST(WriteRelayedFields, RefusalKeepsBodyFraming) {
  auto r = response(
      "HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 4\r\n"
      "WWW-Authenticate: Basic\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_TRUE(r->ok) << r->why;
  EXPECT_EQ("Content-Length: 4\r\nWWW-Authenticate: Basic\r\n", relayed(r->resp, false));
}
