#include "client_limits.h"

#include <netinet/in.h>
#include <openssl/rand.h>
#include <string.h>

#include <algorithm>
#include <cstdlib>

#include "config.h"
#include "counters.h"
#include "log.h"

namespace {

constexpr uint64_t kUsPerSec = 1000000;

// A 64-bit mixer (MurmurHash3's finalizer): every input bit moves every output bit, so with a
// secret seed mixed in a client cannot pick addresses that crowd one group.
uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Big-endian bytes to a number, so that a prefix mask is a mask of leading bits.
uint64_t load_be(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

// The mask keeping the first `bits` (0..64) of a word.
uint64_t leading(int bits) {
  return bits <= 0 ? 0 : bits >= 64 ? ~uint64_t{0} : ~uint64_t{0} << (64 - bits);
}

}  // namespace

// Process-wide, not per table: a reload that resizes the table keeps the counts.
ClientLimitCounters& client_limit_counters() {
  static ClientLimitCounters counters;
  return counters;
}

// All memory is taken here; nothing is allocated per client afterwards.
ClientLimits::ClientLimits(size_t entries, uint64_t seed)
    : groups_(std::max<size_t>(1, (entries + kWays - 1) / kWays)) {
  entries_.resize(groups_ * kWays);
  seed_[0] = mix(seed ^ 0x9e3779b97f4a7c15ULL);
  seed_[1] = mix(seed_[0] ^ seed);
}

// IPv4 and IPv4-mapped IPv6 are the same client; IPv6 is one client per prefix (a host
// usually holds a whole /64).
ClientLimits::Key ClientLimits::key_of(const sockaddr_storage& peer, int ipv6_prefix) {
  Key k;
  if (peer.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
    k.lo = 0xffff00000000ULL | ntohl(in->sin_addr.s_addr);
    return k;
  }
  if (peer.ss_family != AF_INET6) return k;  // unix sockets and the like: one shared key
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer);
  const uint8_t* b = in6->sin6_addr.s6_addr;
  if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
    k.lo = load_be(b + 8);
    return k;
  }
  k.hi = load_be(b) & leading(ipv6_prefix);
  k.lo = load_be(b + 8) & leading(ipv6_prefix - 64);
  k.hi ^= 1;  // never equal to an IPv4 key (those have hi == 0), whatever the prefix
  return k;
}

// Multiply-shift maps the hash onto any number of groups without a modulo's bias.
size_t ClientLimits::group_of(const Key& k) const {
  uint64_t h = mix(mix(k.hi ^ seed_[0]) ^ k.lo ^ seed_[1]);
  return static_cast<size_t>((static_cast<unsigned __int128>(h) * groups_) >> 64);
}

// The entry for k in its group: its own, else a free one, else the least recently used one
// without live connections (an eviction); kNoSlot when all are live. Under the group's lock.
uint32_t ClientLimits::find_or_claim(size_t group, const Key& k, uint64_t now_us) {
  Entry* first = &entries_[group * kWays];
  Entry* free = nullptr;
  Entry* idle = nullptr;
  for (size_t i = 0; i < kWays; i++) {
    Entry& e = first[i];
    if (e.key == k) return static_cast<uint32_t>(&e - entries_.data());
    if (e.live) continue;
    if (e.tat_us <= now_us) {
      if (!free) free = &e;
    } else if (!idle || e.used_s < idle->used_s) {
      idle = &e;
    }
  }
  Entry* e = free ? free : idle;
  if (!e) return kNoSlot;
  if (!free) client_limit_counters().evictions.fetch_add(1, std::memory_order_relaxed);
  *e = Entry();
  e->key = k;
  return static_cast<uint32_t>(e - entries_.data());
}

// The connection limit first: a refused connection takes no token.
ClientVerdict ClientLimits::admit(const sockaddr_storage& peer, const ClientLimitSettings& s,
                                  uint64_t now_us, uint32_t* slot) {
  *slot = kNoSlot;
  ClientVerdict v;
  if (!s.enabled()) return v;
  Key k = key_of(peer, s.ipv6_prefix);
  size_t g = group_of(k);
  std::lock_guard<std::mutex> lock(lock_of(g));
  uint32_t i = find_or_claim(g, k, now_us);
  if (i == kNoSlot) {
    client_limit_counters().table_full.fetch_add(1, std::memory_order_relaxed);
    return v;
  }
  Entry& e = entries_[i];
  e.used_s = static_cast<uint32_t>(now_us / kUsPerSec);
  if (s.max_connections && e.live >= s.max_connections) {
    client_limit_counters().rejected_connections.fetch_add(1, std::memory_order_relaxed);
    return {ClientVerdict::kOverConnections, 1};
  }
  if (s.interval_us) {
    // GCRA: the bucket is one time, when it will be full again; each token moves it on by
    // interval_us, and it may run ahead of now by the burst less one token.
    uint64_t tat = std::max(e.tat_us, now_us);
    uint64_t tolerance = (s.burst - 1) * s.interval_us;
    if (tat - now_us > tolerance) {
      client_limit_counters().rejected_rate.fetch_add(1, std::memory_order_relaxed);
      uint64_t wait = tat - now_us - tolerance;
      return {ClientVerdict::kOverRate,
              static_cast<int>(std::max<uint64_t>(1, (wait + kUsPerSec - 1) / kUsPerSec))};
    }
    e.tat_us = tat + s.interval_us;
  }
  if (s.max_connections) {
    e.live++;
    *slot = i;
  }
  return v;
}

// An admitted entry is never evicted while live, so its index still names it.
void ClientLimits::release(uint32_t slot) {
  if (slot >= entries_.size()) return;
  std::lock_guard<std::mutex> lock(lock_of(slot / kWays));
  if (entries_[slot].live) entries_[slot].live--;
}

// For tests: what the table counts for an address now.
uint32_t ClientLimits::live(const sockaddr_storage& peer, int ipv6_prefix) {
  Key k = key_of(peer, ipv6_prefix);
  size_t g = group_of(k);
  std::lock_guard<std::mutex> lock(lock_of(g));
  for (size_t i = 0; i < kWays; i++)
    if (entries_[g * kWays + i].key == k) return entries_[g * kWays + i].live;
  return 0;
}

// Only an admission that counted keeps the table, so a refusal releases nothing.
ClientVerdict ClientSlot::admit(std::shared_ptr<ClientLimits> table, const sockaddr_storage& peer,
                                const ClientLimitSettings& s, uint64_t now_us) {
  reset();
  ClientVerdict v = table->admit(peer, s, now_us, &slot_);
  if (slot_ != ClientLimits::kNoSlot) table_ = std::move(table);
  return v;
}

// Releases at most once: the table is dropped with the slot.
void ClientSlot::reset() {
  if (table_) table_->release(slot_);
  table_.reset();
  slot_ = ClientLimits::kNoSlot;
}

// A fresh seed per table, from OpenSSL's generator, keeps group placement unguessable.
std::shared_ptr<ClientLimits> shared_client_limits(size_t entries) {
  static std::mutex mu;
  static std::shared_ptr<ClientLimits> current;
  std::lock_guard<std::mutex> lock(mu);
  size_t want = (entries + ClientLimits::kWays - 1) / ClientLimits::kWays * ClientLimits::kWays;
  if (!current || current->entries() != want) {
    uint64_t seed = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != 1)
      seed = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&seed)) ^ monotonic_us();
    current = std::make_shared<ClientLimits>(entries, seed);
  }
  return current;
}

// A rate is a count and a unit; the interval between tokens is what the bucket needs.
bool parse_rate(const std::string& text, uint64_t& interval_us, uint64_t& per_second_ceil) {
  interval_us = 0;
  per_second_ceil = 0;
  if (text == "0" || text == "off") return true;
  size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 2 != text.size()) return false;
  for (size_t i = 0; i < slash; i++)
    if (text[i] < '0' || text[i] > '9') return false;
  if (slash > 7) return false;  // at most 9999999 a unit
  uint64_t n = strtoull(text.c_str(), nullptr, 10);
  char unit = text[slash + 1];
  uint64_t unit_s = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
  if (!unit_s) return false;
  if (n == 0) return true;
  interval_us = std::max<uint64_t>(1, unit_s * kUsPerSec / n);
  per_second_ceil = (n + unit_s - 1) / unit_s;
  return true;
}

// "off" is stored as 0, the form the docs give for the default.
bool check_rate(std::string& v, std::string& err) {
  uint64_t interval, per_second;
  if (!parse_rate(v, interval, per_second)) {
    err = "bad handshake_rate_per_ip \"" + v +
          "\"; write handshakes per second, minute or hour as N/s, N/m or N/h (e.g. 10/s), "
          "or 0 for no limit";
    return false;
  }
  if (!interval) v = "0";
  return true;
}

// Parsed once per Runtime, so that no accept parses text.
ClientLimitSettings client_limit_settings(const Config& c) {
  ClientLimitSettings s;
  uint64_t per_second = 0;
  parse_rate(c.handshake_rate_per_ip, s.interval_us, per_second);
  s.max_connections = c.max_connections_per_ip;
  s.burst = c.handshake_burst_per_ip ? c.handshake_burst_per_ip : std::max<uint64_t>(1, per_second);
  s.ipv6_prefix = c.per_ip_ipv6_prefix;
  return s;
}

// One line a second at most over all workers: a flood must not flood the log as well.
void log_client_refused(const std::string& peer, const ClientVerdict& v,
                        const ClientLimitSettings& s, uint64_t now_us) {
  static std::atomic<uint64_t> next_us{0};
  static std::atomic<uint64_t> quiet{0};
  uint64_t due = next_us.load(std::memory_order_relaxed);
  if (now_us < due || !next_us.compare_exchange_strong(due, now_us + kUsPerSec)) {
    quiet.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint64_t more = quiet.exchange(0, std::memory_order_relaxed);
  if (v.kind == ClientVerdict::kOverConnections)
    log_info(
        "%s: 429: max_connections_per_ip (%llu) reached (%llu more refused in the last "
        "second or so)",
        log_escape(peer).c_str(), static_cast<unsigned long long>(s.max_connections),
        static_cast<unsigned long long>(more));
  else
    log_info(
        "%s: 429: handshake_rate_per_ip exceeded, retry in %d s (%llu more refused in the "
        "last second or so)",
        log_escape(peer).c_str(), v.retry_after, static_cast<unsigned long long>(more));
}
