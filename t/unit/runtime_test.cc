// build_runtime: what a checked config compiles to, and the failures it returns instead of
// exiting.
#include "runtime.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

// A config that passed config_parse.
Config checked(const std::string& text) {
  Config c;
  std::vector<std::string> errors;
  EXPECT_TRUE(config_parse(text, "test.ini", c, errors));
  for (const std::string& e : errors) ADD_FAILURE() << e;
  return c;
}

TEST(Runtime, BuildsConfigAndRoutes) {
  Config c = checked(
      "[route a]\npath = /a\nbackend = echo\n[route b]\npath = ~ ^/b/\n"
      "backend = wss://h\ntls_verify = off\n");
  std::vector<std::string> errors;
  std::shared_ptr<const Runtime> rt = build_runtime(c, errors);
  ASSERT_NE(rt, nullptr);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(rt->config.routes.size(), 2u);
  ASSERT_EQ(rt->router.routes().size(), 2u);
  EXPECT_EQ(rt->router.match("/a")->name(), "a");
  EXPECT_EQ(rt->router.match("/b/1")->name(), "b");
  EXPECT_NE(rt->router.routes()[1]->backend_tls(), nullptr);
}

TEST(Runtime, UnloadableCaFileIsAnErrorNotAnExit) {
  Config c = checked(
      "[route ok]\npath = /ok\nbackend = echo\n\n[route feed]\npath = /feed\n"
      "backend = wss://feed.example\n");
  // As if the CA file named at the check had gone by the time the routes are built.
  c.routes[1].tls_ca = "/nonexistent/ca.pem";
  std::vector<std::string> errors;
  EXPECT_EQ(build_runtime(c, errors), nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("test.ini:5: [route feed] cannot be built: cannot load CA "
                            "certificates from /nonexistent/ca.pem",
                            0),
            0u)
      << errors[0];
}

TEST(Runtime, EveryRouteThatFailsIsReported) {
  Config c = checked(
      "[route a]\npath = /a\nbackend = wss://h\n[route b]\npath = /b\n"
      "backend = echo\n");
  c.routes[0].tls_ca = "/nonexistent/a.pem";
  c.routes[1].path = "~ (";  // config_parse refuses it; a hand-made config need not
  std::vector<std::string> errors;
  EXPECT_EQ(build_runtime(c, errors), nullptr);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].rfind("test.ini:1: [route a] cannot be built: ", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1].rfind("test.ini:4: [route b] cannot be built: bad regular expression", 0), 0u)
      << errors[1];
}

}  // namespace

namespace {

TEST(Runtime, NoTlsListenerNoServerContext) {
  Config c = checked("[route a]\npath = /a\nbackend = echo\n");
  std::vector<std::string> errors;
  std::shared_ptr<const Runtime> rt = build_runtime(c, errors);
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(rt->tls_server, nullptr);
}

TEST(Runtime, UnreadableCertificateIsAnErrorWithItsLine) {
  Config c = checked(
      "[server]\nlisten = 127.0.0.1:8443 tls\ntls_cert = /nonexistent/chain.pem\n"
      "tls_key = /nonexistent/key.pem\n[route a]\npath = /a\nbackend = echo\n");
  std::vector<std::string> errors;
  EXPECT_EQ(build_runtime(c, errors), nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(
      errors[0].rfind("test.ini:3: cannot load the certificate chain /nonexistent/chain.pem: ", 0),
      0u)
      << errors[0];
}

}  // namespace
