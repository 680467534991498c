// The per-client table: counting and release, address grouping, the token bucket on an
// injected clock, eviction of idle entries, failing open, and memory fixed at construction.
#include "client_limits.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

#include "config.h"

namespace {

constexpr uint64_t kSec = 1000000;

// A socket address from text, IPv4 or IPv6.
sockaddr_storage addr(const std::string& ip) {
  sockaddr_storage ss{};
  if (ip.find(':') == std::string::npos) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    EXPECT_EQ(inet_pton(AF_INET, ip.c_str(), &in->sin_addr), 1) << ip;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    EXPECT_EQ(inet_pton(AF_INET6, ip.c_str(), &in6->sin6_addr), 1) << ip;
  }
  return ss;
}

ClientLimitSettings connections(uint64_t n, int prefix = 64) {
  ClientLimitSettings s;
  s.max_connections = n;
  s.ipv6_prefix = prefix;
  return s;
}

ClientLimitSettings rate(uint64_t per_second, uint64_t burst) {
  ClientLimitSettings s;
  s.interval_us = kSec / per_second;
  s.burst = burst;
  return s;
}

// Admits one connection; the slot comes back through *slot.
ClientVerdict::Kind admit(ClientLimits& t, const std::string& ip, const ClientLimitSettings& s,
                          uint64_t now = kSec, uint32_t* slot = nullptr) {
  uint32_t ignored;
  return t.admit(addr(ip), s, now, slot ? slot : &ignored).kind;
}

TEST(ClientLimits, CountsAndReleases) {
  ClientLimits t(64, 1);
  ClientLimitSettings s = connections(3);
  uint32_t slots[3];
  for (uint32_t& slot : slots)
    EXPECT_EQ(admit(t, "192.0.2.1", s, kSec, &slot), ClientVerdict::kAdmit);
  ClientVerdict v;
  uint32_t slot;
  v = t.admit(addr("192.0.2.1"), s, kSec, &slot);
  EXPECT_EQ(v.kind, ClientVerdict::kOverConnections);
  EXPECT_EQ(v.retry_after, 1);
  EXPECT_EQ(slot, ClientLimits::kNoSlot);
  EXPECT_EQ(admit(t, "192.0.2.2", s), ClientVerdict::kAdmit) << "another address is apart";
  EXPECT_EQ(t.live(addr("192.0.2.1"), 64), 3u);
  t.release(slots[0]);
  EXPECT_EQ(t.live(addr("192.0.2.1"), 64), 2u);
  EXPECT_EQ(admit(t, "192.0.2.1", s), ClientVerdict::kAdmit);
}

TEST(ClientLimits, SlotReleasesOnceWhenFreed) {
  auto t = std::make_shared<ClientLimits>(64, 2);
  ClientLimitSettings s = connections(1);
  {
    ClientSlot slot;
    EXPECT_EQ(slot.admit(t, addr("192.0.2.9"), s, kSec).kind, ClientVerdict::kAdmit);
    ClientSlot refused;
    EXPECT_EQ(refused.admit(t, addr("192.0.2.9"), s, kSec).kind, ClientVerdict::kOverConnections);
    // The refused one holds nothing: freeing it must not release the admitted one's count.
  }
  EXPECT_EQ(t->live(addr("192.0.2.9"), 64), 0u);
  ClientSlot again;
  EXPECT_EQ(again.admit(t, addr("192.0.2.9"), s, kSec).kind, ClientVerdict::kAdmit);
  EXPECT_EQ(t->live(addr("192.0.2.9"), 64), 1u);
}

TEST(ClientLimits, Ipv6GroupedBySlash64ByDefault) {
  ClientLimits t(64, 3);
  ClientLimitSettings s = connections(2);
  EXPECT_EQ(admit(t, "2001:db8:1:2::1", s), ClientVerdict::kAdmit);
  EXPECT_EQ(admit(t, "2001:db8:1:2:ffff::9", s), ClientVerdict::kAdmit);
  EXPECT_EQ(admit(t, "2001:db8:1:2:abcd:1:2:3", s), ClientVerdict::kOverConnections);
  EXPECT_EQ(admit(t, "2001:db8:1:3::1", s), ClientVerdict::kAdmit) << "the next /64";
}

TEST(ClientLimits, Ipv6CustomPrefix) {
  ClientLimits t(64, 4);
  ClientLimitSettings s48 = connections(1, 48);
  EXPECT_EQ(admit(t, "2001:db8:1:2::1", s48), ClientVerdict::kAdmit);
  EXPECT_EQ(admit(t, "2001:db8:1:ffff::1", s48), ClientVerdict::kOverConnections);
  EXPECT_EQ(admit(t, "2001:db8:2::1", s48), ClientVerdict::kAdmit);
  ClientLimits u(64, 5);
  ClientLimitSettings s128 = connections(1, 128);
  EXPECT_EQ(admit(u, "2001:db8::1", s128), ClientVerdict::kAdmit);
  EXPECT_EQ(admit(u, "2001:db8::2", s128), ClientVerdict::kAdmit);
  EXPECT_EQ(admit(u, "2001:db8::1", s128), ClientVerdict::kOverConnections);
  EXPECT_EQ(ClientLimits::key_of(addr("2001:db8::1"), 1),
            ClientLimits::key_of(addr("2001:dead::1"), 1));
}

TEST(ClientLimits, Ipv4MappedIsIpv4) {
  ClientLimits t(64, 6);
  ClientLimitSettings s = connections(1);
  EXPECT_EQ(ClientLimits::key_of(addr("::ffff:192.0.2.7"), 64),
            ClientLimits::key_of(addr("192.0.2.7"), 64));
  EXPECT_EQ(admit(t, "192.0.2.7", s), ClientVerdict::kAdmit);
  EXPECT_EQ(admit(t, "::ffff:192.0.2.7", s), ClientVerdict::kOverConnections);
  // IPv4 is one address each, and never collides with an IPv6 prefix.
  EXPECT_EQ(admit(t, "192.0.2.8", s), ClientVerdict::kAdmit);
  EXPECT_FALSE(ClientLimits::key_of(addr("::c000:207"), 64) ==
               ClientLimits::key_of(addr("192.0.2.7"), 64));
}

TEST(ClientLimits, TokenBucketRefillsOnTheClock) {
  ClientLimits t(64, 7);
  ClientLimitSettings s = rate(2, 2);  // 2/s burst 2: one token each 500 ms
  uint64_t now = 100 * kSec;
  EXPECT_EQ(admit(t, "192.0.2.1", s, now), ClientVerdict::kAdmit);
  EXPECT_EQ(admit(t, "192.0.2.1", s, now), ClientVerdict::kAdmit);
  uint32_t slot;
  ClientVerdict v = t.admit(addr("192.0.2.1"), s, now, &slot);
  EXPECT_EQ(v.kind, ClientVerdict::kOverRate);
  EXPECT_EQ(v.retry_after, 1) << "half a second rounds up to 1";
  EXPECT_EQ(admit(t, "192.0.2.2", s, now), ClientVerdict::kAdmit) << "buckets are per address";
  EXPECT_EQ(admit(t, "192.0.2.1", s, now + 499000), ClientVerdict::kOverRate);
  EXPECT_EQ(admit(t, "192.0.2.1", s, now + 500000), ClientVerdict::kAdmit);
  EXPECT_EQ(admit(t, "192.0.2.1", s, now + 500000), ClientVerdict::kOverRate);
  // A long rest refills the bucket to its burst, no more.
  now += 60 * kSec;
  EXPECT_EQ(admit(t, "192.0.2.1", s, now), ClientVerdict::kAdmit);
  EXPECT_EQ(admit(t, "192.0.2.1", s, now), ClientVerdict::kAdmit);
  EXPECT_EQ(admit(t, "192.0.2.1", s, now), ClientVerdict::kOverRate);
}

TEST(ClientLimits, RetryAfterIsTheWaitForTheNextToken) {
  ClientLimits t(64, 8);
  ClientLimitSettings s;
  s.interval_us = 60 * kSec / 6;  // 6/m: one each 10 s
  s.burst = 1;
  EXPECT_EQ(admit(t, "192.0.2.1", s, kSec), ClientVerdict::kAdmit);
  uint32_t slot;
  EXPECT_EQ(t.admit(addr("192.0.2.1"), s, kSec, &slot).retry_after, 10);
  EXPECT_EQ(t.admit(addr("192.0.2.1"), s, 5 * kSec + 1, &slot).retry_after, 6);
}

TEST(ClientLimits, EvictsTheLeastRecentlyUsedIdleEntryWhenFull) {
  ClientLimits t(ClientLimits::kWays, 9);  // one group: every address shares it
  ClientLimitSettings s;  // one token each 100 s, 5 at once: a used bucket stays not full
  s.interval_us = 100 * kSec;
  s.burst = 5;
  auto& c = client_limit_counters();
  uint64_t evicted = c.evictions.load();
  for (int i = 0; i < static_cast<int>(ClientLimits::kWays); i++)
    ASSERT_EQ(admit(t, "10.0.0." + std::to_string(i), s, (10 + i) * kSec), ClientVerdict::kAdmit);
  EXPECT_EQ(c.evictions.load(), evicted);
  // 10.0.0.0 was used longest ago; using it now makes 10.0.0.1 the oldest.
  ASSERT_EQ(admit(t, "10.0.0.0", s, 20 * kSec), ClientVerdict::kAdmit);
  // Drain 10.0.0.1's bucket so that forgetting it would show.
  for (int i = 0; i < 4; i++) admit(t, "10.0.0.1", s, 11 * kSec);
  EXPECT_EQ(admit(t, "10.0.0.1", s, 11 * kSec), ClientVerdict::kOverRate);
  EXPECT_EQ(admit(t, "10.0.0.99", s, 21 * kSec), ClientVerdict::kAdmit);
  EXPECT_EQ(c.evictions.load(), evicted + 1);
  // 10.0.0.1 was the one dropped: it starts with a full bucket again.
  EXPECT_EQ(admit(t, "10.0.0.1", s, 21 * kSec), ClientVerdict::kAdmit);
  EXPECT_EQ(c.evictions.load(), evicted + 2);
}

TEST(ClientLimits, IdleEntriesWithFullBucketsAreReusedFreely) {
  ClientLimits t(ClientLimits::kWays, 10);
  ClientLimitSettings s = connections(1);
  auto& c = client_limit_counters();
  uint64_t evicted = c.evictions.load(), full = c.table_full.load();
  for (int i = 0; i < 100; i++) {
    uint32_t slot;
    ASSERT_EQ(admit(t, "10.1.0." + std::to_string(i), s, kSec, &slot), ClientVerdict::kAdmit);
    t.release(slot);
  }
  EXPECT_EQ(c.evictions.load(), evicted) << "nothing counted was lost";
  EXPECT_EQ(c.table_full.load(), full);
}

TEST(ClientLimits, FailsOpenWhenEveryEntryIsLive) {
  ClientLimits t(ClientLimits::kWays, 11);
  ClientLimitSettings s = connections(1);
  auto& c = client_limit_counters();
  uint64_t full = c.table_full.load();
  for (int i = 0; i < static_cast<int>(ClientLimits::kWays); i++)
    ASSERT_EQ(admit(t, "10.2.0." + std::to_string(i), s), ClientVerdict::kAdmit);
  uint32_t slot = 0;
  EXPECT_EQ(admit(t, "10.2.0.200", s, kSec, &slot), ClientVerdict::kAdmit);
  EXPECT_EQ(slot, ClientLimits::kNoSlot) << "nothing to release";
  EXPECT_EQ(admit(t, "10.2.0.200", s, kSec, &slot), ClientVerdict::kAdmit) << "unlimited";
  EXPECT_EQ(c.table_full.load(), full + 2);
  t.release(ClientLimits::kNoSlot);  // harmless
  // The live ones still count.
  EXPECT_EQ(admit(t, "10.2.0.3", s), ClientVerdict::kOverConnections);
}

TEST(ClientLimits, MemoryIsFixed) {
  ClientLimits t(1000, 12);
  EXPECT_EQ(t.entries(), 1000u);  // whole groups of 8
  EXPECT_EQ(t.memory_bytes(), 1000u * 32);
  ClientLimitSettings s = rate(1, 1);
  s.max_connections = 5;
  for (int i = 0; i < 100000; i++) {
    std::string ip = "10." + std::to_string(i >> 16 & 255) + "." + std::to_string(i >> 8 & 255) +
                     "." + std::to_string(i & 255);
    admit(t, ip, s, kSec + i);
  }
  EXPECT_EQ(t.entries(), 1000u);
  EXPECT_EQ(t.memory_bytes(), 1000u * 32);
  EXPECT_EQ(ClientLimits(13, 1).entries(), 16u) << "rounded up to whole groups";
}

TEST(ClientLimits, ParsesRates) {
  uint64_t interval, per_second;
  ASSERT_TRUE(parse_rate("10/s", interval, per_second));
  EXPECT_EQ(interval, 100000u);
  EXPECT_EQ(per_second, 10u);
  ASSERT_TRUE(parse_rate("300/m", interval, per_second));
  EXPECT_EQ(interval, 200000u);
  EXPECT_EQ(per_second, 5u);
  ASSERT_TRUE(parse_rate("1/h", interval, per_second));
  EXPECT_EQ(interval, 3600u * kSec);
  EXPECT_EQ(per_second, 1u);
  ASSERT_TRUE(parse_rate("off", interval, per_second));
  EXPECT_EQ(interval, 0u);
  for (const char* bad : {"", "10", "/s", "10/d", "10/ss", "-1/s", "1.5/s", "99999999/s"})
    EXPECT_FALSE(parse_rate(bad, interval, per_second)) << bad;
  std::string v = "off", err;
  EXPECT_TRUE(check_rate(v, err));
  EXPECT_EQ(v, "0");
  v = "5/x";
  EXPECT_FALSE(check_rate(v, err));
  EXPECT_NE(err.find("N/s"), std::string::npos) << err;
}

TEST(ClientLimits, SettingsFromConfig) {
  Config c;
  EXPECT_FALSE(client_limit_settings(c).enabled()) << "off by default";
  c.handshake_rate_per_ip = "300/m";
  ClientLimitSettings s = client_limit_settings(c);
  EXPECT_TRUE(s.enabled());
  EXPECT_EQ(s.burst, 5u) << "the per-second rate rounded up";
  c.handshake_rate_per_ip = "1/m";
  EXPECT_EQ(client_limit_settings(c).burst, 1u) << "at least 1";
  c.handshake_burst_per_ip = 20;
  EXPECT_EQ(client_limit_settings(c).burst, 20u);
}

}  // namespace
