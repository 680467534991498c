// The INI configuration: backend values (tcp://, unix:, tls://, ws://, wss://) and the keys
// that only some backends take.
#include "config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config_parse.h"

namespace {

TEST(ConfigError, BadBackendValues) {
  for (const char* b : {"tcp://127.0.0.1", "tcp://127.0.0.1:0", "tcp://127.0.0.1:65536",
                        "tcp://:7000", "tcp://127.0.0.1:70x", "http://x:80", "unix:", "echo2",
                        "tcp://[::1]", "tcp://::1:7001", "ws://::1/x"}) {
    SCOPED_TRACE(b);
    expect_error("[route a]\npath = /a\nbackend = " + std::string(b) + "\n", 3, "bad backend");
  }
  expect_error("[route a]\npath = /a\nbackend = unix:/" + std::string(120, 'x') + "\n", 3,
               "unix socket path is too long");
}

TEST(ConfigError, BackendWithUserInformationIsRefused) {
  for (const char* b : {"ws://user:pw@127.0.0.1:9001/x", "wss://u@h", "tls://a:b@db:5433"}) {
    SCOPED_TRACE(b);
    Parsed p = parse("[route a]\npath = /a\nbackend = " + std::string(b) + "\n");
    ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
    EXPECT_EQ(p.errors[0].rfind("test.ini:3: backend URL has user information", 0), 0u)
        << p.errors[0];
    EXPECT_EQ(p.errors[0].find("pw"), std::string::npos) << "the password is not repeated";
  }
  parse_ok("[route a]\npath = /a\nbackend = ws://127.0.0.1:9001/a@b\n");
}

TEST(Config, TlsBackend) {
  Config cfg = parse_ok("[route a]\npath = /a\nbackend = tls://db.internal:5433\n");
  const BackendAddr& b = cfg.routes[0].backend;
  EXPECT_EQ(b.kind, BackendAddr::Kind::kTls);
  EXPECT_EQ(b.host, "db.internal");
  EXPECT_EQ(b.port, 5433);
  EXPECT_TRUE(b.tls());
  EXPECT_TRUE(b.bridge());
  EXPECT_FALSE(b.websocket());
  EXPECT_EQ(parse_ok("[route a]\npath = /a\nbackend = tls://[::1]:7000\n").routes[0].backend.host,
            "::1");
  for (const char* bad : {"tls://127.0.0.1", "tls://h:0", "tls://:7000", "tls://[::1]", "tls://"}) {
    SCOPED_TRACE(bad);
    expect_error("[route a]\npath = /a\nbackend = " + std::string(bad) + "\n", 3,
                 "write tls://HOST:PORT");
  }
}

TEST(ConfigError, TlsKeysOnlyForTlsBackends) {
  expect_error("[route a]\npath = /a\nbackend = ws://127.0.0.1:9000\ntls_verify = off\n", 4,
               "[route a] sets tls_verify, which only applies to tls:// and wss:// backends");
  for (const char* key : {"tls_ca", "tls_client_cert", "tls_client_key"}) {
    SCOPED_TRACE(key);
    expect_error(
        "[route a]\npath = /a\nbackend = tcp://127.0.0.1:9000\n" + std::string(key) + " = /x.pem\n",
        4, "[route a] sets " + std::string(key) + ", which only applies to tls:// and");
  }
  expect_error("[route a]\npath = /a\nbackend = tls://h:1\ntls_client_cert = /x.pem\n", 4,
               "tls_client_cert and tls_client_key go together; set tls_client_key as well");
  expect_error("[route a]\npath = /a\nbackend = wss://h\n\ntls_client_key = /x.pem\n", 5,
               "tls_client_cert and tls_client_key go together; set tls_client_cert as well");
  expect_error(
      "[route a]\npath = /a\nbackend = tls://h:1\ntls_client_key =\ntls_client_cert = /x\n", 5,
      "tls_client_cert and tls_client_key go together; set tls_client_key as well");
  expect_error(
      "[route a]\npath = /a\nbackend = tls://h:1\ntls_client_cert = /nonexistent/c.pem\n"
      "tls_client_key = /nonexistent/k.pem\n",
      4, "cannot load the certificate chain /nonexistent/c.pem");
  expect_error("[route a]\npath = /a\nbackend = tcp://127.0.0.1:9000\nforwarded = on\n", 1,
               "[route a] sets forwarded, which only applies to ws:// and wss:// backends");
  expect_error("[route a]\npath = /a\nbackend = wss://h\ntls_ca = /nonexistent/ca.pem\n", 4,
               "cannot load CA certificates from /nonexistent/ca.pem");
  expect_error("[route a]\npath = /a\nbackend = wss://h\ntls_verify = maybe\n", 4,
               "bad tls_verify \"maybe\"; write on or off");
}

TEST(Config, WssBackend) {
  Config cfg = parse_ok("[route a]\npath = /a\nbackend = wss://example.com/x\ntls_verify = off\n");
  const BackendAddr& b = cfg.routes[0].backend;
  EXPECT_EQ(b.kind, BackendAddr::Kind::kWss);
  EXPECT_EQ(b.port, 443);
  EXPECT_EQ(b.path, "/x");
  EXPECT_FALSE(cfg.routes[0].tls_verify);
  EXPECT_TRUE(parse_ok("[route a]\npath = /a\nbackend = wss://h:8443\n").routes[0].tls_verify);
}

TEST(Config, WebSocketBackends) {
  struct Case {
    const char* text;
    const char* host;
    int port;
    const char* path;
  } cases[] = {
      {"ws://127.0.0.1:9001/socket", "127.0.0.1", 9001, "/socket"},
      {"ws://example.com", "example.com", 80, ""},
      {"ws://example.com/", "example.com", 80, "/"},
      {"ws://[::1]:9001", "::1", 9001, ""},
      {"ws://[::1]/a/b", "::1", 80, "/a/b"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    Config cfg =
        parse_ok("[route a]\npath = /a\nforwarded = on\nbackend = " + std::string(c.text) + "\n");
    const BackendAddr& b = cfg.routes[0].backend;
    EXPECT_EQ(b.kind, BackendAddr::Kind::kWs);
    EXPECT_TRUE(b.websocket());
    EXPECT_EQ(b.host, c.host);
    EXPECT_EQ(b.port, c.port);
    EXPECT_EQ(b.path, c.path);
    EXPECT_TRUE(cfg.routes[0].forwarded);
  }
  for (const char* bad : {"ws://", "ws://:80", "ws://host:0", "ws://host:65536", "ws://h/p?q",
                          "ws://h/p#f", "ws://[::1"}) {
    SCOPED_TRACE(bad);
    expect_error("[route a]\npath = /a\nbackend = " + std::string(bad) + "\n", 3,
                 "write ws[s]://HOST[:PORT][/PATH]");
  }
  expect_error("[route a]\npath = /a\nbackend = echo\nforwarded = yes\n", 4,
               "bad forwarded \"yes\"; write on or off");
}

}  // namespace
