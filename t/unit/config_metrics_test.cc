// The [metrics] section: its listen key, which shares its name with [server]'s.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "config_parse.h"

namespace {

TEST(ConfigMetrics, UnsetByDefault) {
  Config c = parse_ok(kRoute);
  EXPECT_TRUE(c.metrics_listen.empty());
  std::string value = "x";
  EXPECT_TRUE(config_option_value("listen", ConfigScope::kMetrics, c, nullptr, value));
  EXPECT_EQ(value, "");
}

TEST(ConfigMetrics, ListenIsItsOwn) {
  Config c = parse_ok(std::string("[server]\nlisten = 127.0.0.1:8080\n[metrics]\nlisten = "
                                  "127.0.0.1:9100\n") +
                      kRoute);
  ASSERT_EQ(c.metrics_listen.size(), 1u);
  EXPECT_EQ(c.metrics_listen[0].text, "127.0.0.1:9100");
  EXPECT_EQ(c.metrics_listen[0].line, 4);
  const sockaddr_in* sin = reinterpret_cast<const sockaddr_in*>(&c.metrics_listen[0].addr);
  EXPECT_EQ(ntohs(sin->sin_port), 9100);
  ASSERT_EQ(c.listen.size(), 1u) << "the [server] listen is untouched";
  EXPECT_EQ(c.listen[0].text, "127.0.0.1:8080");
  std::string value;
  EXPECT_TRUE(config_option_value("listen", ConfigScope::kMetrics, c, nullptr, value));
  EXPECT_EQ(value, "127.0.0.1:9100");
  EXPECT_TRUE(config_option_value("listen", ConfigScope::kServer, c, nullptr, value));
  EXPECT_EQ(value, "127.0.0.1:8080");
}

TEST(ConfigMetrics, BeforeServerWithTheDefaultListen) {
  Config c = parse_ok(std::string("[metrics]\nlisten = [::1]:9100\n") + kRoute);
  ASSERT_EQ(c.metrics_listen.size(), 1u);
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].text, "127.0.0.1:8080");
}

TEST(ConfigMetrics, Errors) {
  expect_one_error(std::string("[metrics]\nlisten = 127.0.0.1:9100 tls\n") + kRoute, 2,
                   "serves plain HTTP; remove \"tls\"");
  expect_one_error(
      std::string("[metrics]\nlisten = 127.0.0.1:9100\nlisten = 127.0.0.1:9101\n") + kRoute, 3,
      "set twice");
  expect_one_error(std::string("[metrics]\nlisten = 127.0.0.1:9100\n[metrics]\n") + kRoute, 3,
                   "[metrics] is given twice (first at line 1)");
  expect_one_error(std::string("[metrics]\nlisten = nowhere\n") + kRoute, 2, "bad listen address");
  expect_one_error(std::string("[metrics]\nworkers = 2\n") + kRoute, 2,
                   "unknown key \"workers\" in [metrics]; known keys: listen");
  expect_one_error(std::string("[server]\nlisten = 127.0.0.1:8080\n[metrics]\nlisten = "
                               "127.0.0.1:8080\n") +
                       kRoute,
                   4, "is also a [server] listen address");
  expect_one_error(std::string("[metrix]\n") + kRoute, 1, "[tls NAME] and [metrics]");
}

}  // namespace
