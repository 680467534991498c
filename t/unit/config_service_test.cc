// The service keys: user, group and pid_file. Accounts are looked up for real; root and its
// group exist on every system the tests run on.
#include <gtest/gtest.h>

#include <string>

#include "config_parse.h"

namespace {

TEST(ConfigService, UnsetByDefault) {
  Config c = parse_ok(kRoute);
  EXPECT_EQ(c.user, "");
  EXPECT_EQ(c.group, "");
  EXPECT_EQ(c.pid_file, "");
}

TEST(ConfigService, ExistingAccountsAndPidFile) {
  Config c = parse_ok("[server]\nuser = root\ngroup = root\npid_file = /run/wsgate/wsgate.pid\n" +
                      std::string(kRoute));
  EXPECT_EQ(c.user, "root");
  EXPECT_EQ(c.group, "root");
  EXPECT_EQ(c.pid_file, "/run/wsgate/wsgate.pid");
}

TEST(ConfigService, UnknownAccountsNameTheirLine) {
  expect_one_error("[server]\nworkers = 1\nuser = no-such-user-wsgate\n" + std::string(kRoute), 3,
                   "unknown user \"no-such-user-wsgate\"; write an existing account");
  expect_one_error("[server]\ngroup = no-such-group-wsgate\n" + std::string(kRoute), 2,
                   "unknown group \"no-such-group-wsgate\"; write an existing group");
}

TEST(ConfigService, OnlyInServer) {
  expect_one_error(std::string(kRoute) + "user = root\n", 4,
                   "unknown key \"user\" in [route echo]");
}

}  // namespace
