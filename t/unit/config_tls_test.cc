// TLS in the configuration: tls listeners, [tls NAME] sections and the [server] TLS keys.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config.h"
#include "config_parse.h"

namespace {

TEST(ConfigTls, TlsWordMarksTheListener) {
  Parsed p = parse(
      "[server]\nlisten = 127.0.0.1:8080\nlisten = 127.0.0.1:8443 tls\ntls_cert = c.pem\n"
      "tls_key = k.pem\n" +
      std::string(kRoute));
  ASSERT_TRUE(p.ok) << dump(p.errors);
  ASSERT_EQ(p.config.listen.size(), 2u);
  EXPECT_FALSE(p.config.listen[0].tls);
  EXPECT_TRUE(p.config.listen[1].tls);
  EXPECT_EQ(p.config.listen[1].text, "127.0.0.1:8443");
  EXPECT_EQ(p.config.tls_cert, "c.pem");
}

TEST(ConfigTls, TlsListenerWithoutCertificateNamesItsLine) {
  Parsed p = parse("[server]\nworkers = 1\nlisten = 127.0.0.1:8443 tls\n" + std::string(kRoute));
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_EQ(p.errors[0].rfind("test.ini:3: listen 127.0.0.1:8443 tls needs a certificate", 0), 0u)
      << p.errors[0];
}

TEST(ConfigTls, OnlyTlsMayFollowTheAddress) {
  Parsed p = parse("[server]\nlisten = 127.0.0.1:8443 ssl\n" + std::string(kRoute));
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_NE(p.errors[0].find("the words allowed are tls and proxy"), std::string::npos)
      << p.errors[0];
}

TEST(ConfigTls, ProxyWordMarksTheListener) {
  Parsed p = parse(
      "[server]\nlisten = 127.0.0.1:8080 proxy\nlisten = 127.0.0.1:8443 tls proxy\n"
      "listen = 127.0.0.1:9443 proxy tls\ntls_cert = c.pem\ntls_key = k.pem\n"
      "proxy_protocol_timeout = 250ms\n" +
      std::string(kRoute));
  ASSERT_TRUE(p.ok) << dump(p.errors);
  ASSERT_EQ(p.config.listen.size(), 3u);
  EXPECT_TRUE(p.config.listen[0].proxy && !p.config.listen[0].tls);
  EXPECT_TRUE(p.config.listen[1].proxy && p.config.listen[1].tls);
  EXPECT_TRUE(p.config.listen[2].proxy && p.config.listen[2].tls);
  EXPECT_EQ(p.config.listen[2].text, "127.0.0.1:9443");
  EXPECT_EQ(p.config.proxy_protocol_timeout_ms, 250u);
  std::string v;
  ASSERT_TRUE(config_option_value("listen", p.config, nullptr, v));
  EXPECT_EQ(v, "127.0.0.1:8080 proxy, 127.0.0.1:8443 tls proxy, 127.0.0.1:9443 tls proxy");
}

TEST(ConfigTls, ProxyWordOnceAndNotOnMetrics) {
  Parsed p = parse("[server]\nlisten = 127.0.0.1:8080 proxy proxy\n" + std::string(kRoute));
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_EQ(p.errors[0].rfind("test.ini:2: repeated word \"proxy\"", 0), 0u) << p.errors[0];
  p = parse("[server]\n" + std::string(kRoute) + "[metrics]\nlisten = 127.0.0.1:9100 proxy\n");
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_NE(p.errors[0].find("serves plain HTTP"), std::string::npos) << p.errors[0];
}

TEST(ConfigTls, CertWithoutKeyIsAnError) {
  Parsed p = parse("[server]\ntls_cert = c.pem\n" + std::string(kRoute));
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  EXPECT_EQ(p.errors[0].rfind("test.ini:2: tls_cert and tls_key go together", 0), 0u)
      << p.errors[0];
}

TEST(ConfigTls, TlsSectionsAddCertificatesBySni) {
  Config c = parse_ok(
      "[server]\nlisten = 127.0.0.1:8443 tls\ntls_cert = c.pem\ntls_key = k.pem\n"
      "[tls other]\nnames = Other.Example, *.other.example\ncert = o.pem\nkey = o.key\n" +
      std::string(kRoute));
  ASSERT_EQ(c.tls_sites.size(), 1u);
  EXPECT_EQ(c.tls_sites[0].name, "other");
  EXPECT_EQ(c.tls_sites[0].line, 5);
  EXPECT_EQ(c.tls_sites[0].names, (std::vector<std::string>{"other.example", "*.other.example"}));
  EXPECT_EQ(c.tls_sites[0].cert, "o.pem");
  EXPECT_EQ(c.tls_sites[0].key, "o.key");
}

TEST(ConfigTls, TlsSectionErrorsNameTheirLines) {
  std::string server = "[server]\ntls_cert = c.pem\ntls_key = k.pem\n";
  expect_one_error(server + "[tls a]\nnames = a.example\ncert = a.pem\n" + kRoute, 4,
                   "[tls a] has no key");
  expect_one_error(
      server + "[tls a]\nnames = a.example\ncert = a.pem\nkey = a.key\npath = /x\n" + kRoute, 8,
      "unknown key \"path\" in [tls a]; known keys: names, cert, key");
  expect_one_error(server + "[tls a]\nnames = a..example\ncert = a.pem\nkey = a.key\n" + kRoute, 5,
                   "bad name \"a..example\"");
  expect_one_error(server + "[tls a]\nnames = *.*.example\ncert = a.pem\nkey = a.key\n" + kRoute, 5,
                   "bad name");
  expect_one_error(server +
                       "[tls a]\nnames = x.example\ncert = a.pem\nkey = a.key\n"
                       "[tls b]\nnames = X.example\ncert = b.pem\nkey = b.key\n" +
                       kRoute,
                   8, "name x.example is already served by the [tls] section at line 4");
  expect_one_error(server + "[tls]\nnames = a.example\ncert = a.pem\nkey = a.key\n" + kRoute, 4,
                   "[tls] needs a name");
}

TEST(ConfigTls, ProtocolsAreTls12AndTls13Only) {
  EXPECT_EQ(parse_ok("[server]\ntls_protocols = TLSv1.3\n" + std::string(kRoute)).tls_protocols,
            "TLSv1.3");
  EXPECT_EQ(
      parse_ok("[server]\ntls_protocols = TLSv1.3, TLSv1.2\n" + std::string(kRoute)).tls_protocols,
      "TLSv1.2 TLSv1.3");
  expect_one_error("[server]\ntls_protocols = TLSv1.1 TLSv1.2\n" + std::string(kRoute), 2,
                   "bad TLS protocol \"TLSv1.1\"; write TLSv1.2 and/or TLSv1.3");
  expect_one_error("[server]\ntls_protocols = ,\n" + std::string(kRoute), 2,
                   "tls_protocols is empty");
}

TEST(ConfigTls, CiphersMustBeKnownToOpenssl) {
  EXPECT_EQ(parse_ok("[server]\ntls_ciphers = ECDHE+AESGCM\n" + std::string(kRoute)).tls_ciphers,
            "ECDHE+AESGCM");
  expect_one_error("[server]\ntls_ciphers = NO-SUCH-CIPHER\n" + std::string(kRoute), 2,
                   "no cipher in \"NO-SUCH-CIPHER\" is known to OpenSSL");
}

TEST(ConfigTls, Tls13SuitesMustBeKnownToOpenssl) {
  EXPECT_EQ(parse_ok(std::string(kRoute)).tls_ciphersuites,
            "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(
      parse_ok("[server]\ntls_ciphersuites = TLS_CHACHA20_POLY1305_SHA256\n" + std::string(kRoute))
          .tls_ciphersuites,
      "TLS_CHACHA20_POLY1305_SHA256");
  expect_one_error("[server]\ntls_ciphersuites = TLS_NO_SUCH_SUITE\n" + std::string(kRoute), 2,
                   "bad TLS 1.3 cipher suites \"TLS_NO_SUCH_SUITE\"");
  expect_one_error("[server]\ntls_ciphersuites = ECDHE+AESGCM\n" + std::string(kRoute), 2,
                   "separated by colons");
}

TEST(ConfigTls, VerifyingClientsNeedsTheirCa) {
  expect_one_error("[server]\nworkers = 1\ntls_verify_client = require\n" + std::string(kRoute), 3,
                   "tls_verify_client needs the CAs to check client certificates against; set "
                   "tls_client_ca");
  expect_one_error("[server]\ntls_client_ca = /nonexistent/ca.pem\n" + std::string(kRoute), 2,
                   "cannot load CA certificates from /nonexistent/ca.pem");
  expect_one_error("[server]\ntls_verify_client = maybe\n" + std::string(kRoute), 2,
                   "write off, optional or require");
}

TEST(ConfigTls, TicketRotationHasBounds) {
  EXPECT_EQ(
      parse_ok("[server]\ntls_ticket_rotation = 2s\n" + std::string(kRoute)).tls_ticket_rotation_ms,
      2000u);
  expect_one_error("[server]\ntls_ticket_rotation = 500ms\n" + std::string(kRoute), 2,
                   "tls_ticket_rotation must be at least 1s");
  expect_one_error("[server]\ntls_ticket_rotation = 2d\n" + std::string(kRoute), 2, "bad duration");
}

TEST(ConfigTls, TicketsPerHandshakeHasBounds) {
  EXPECT_EQ(parse_ok(std::string(kRoute)).tls_tickets_per_handshake, 1);
  EXPECT_EQ(parse_ok("[server]\ntls_tickets_per_handshake = 2\n" + std::string(kRoute))
                .tls_tickets_per_handshake,
            2);
  expect_one_error("[server]\ntls_tickets_per_handshake = 0\n" + std::string(kRoute), 2,
                   "tls_tickets_per_handshake");
  expect_one_error("[server]\ntls_tickets_per_handshake = 9\n" + std::string(kRoute), 2,
                   "tls_tickets_per_handshake");
}

}  // namespace
