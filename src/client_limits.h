// Per-client limits (max_connections_per_ip, handshake_rate_per_ip): one fixed-size table per
// process, shared by the worker threads, whose memory does not grow however many client
// addresses appear. Entries sit in groups of kWays; an address hashes (with a per-process
// random seed) to one group, and a full group drops its least recently used entry that has no
// live connection. A group whose every entry is live admits without a limit (fail open).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// The limits of one Runtime, parsed once from its Config.
struct ClientLimitSettings {
  uint64_t max_connections = 0;  // per address; 0: no limit
  uint64_t interval_us = 0;      // one handshake token per this long; 0: no rate limit
  uint64_t burst = 1;            // tokens a bucket holds
  int ipv6_prefix = 64;          // IPv6 addresses are grouped by this many leading bits
  bool enabled() const { return max_connections || interval_us; }
};

// Process-wide counts for the metrics endpoint; any thread adds and reads.
struct ClientLimitCounters {
  std::atomic<uint64_t> rejected_connections{0};  // over max_connections_per_ip
  std::atomic<uint64_t> rejected_rate{0};         // no handshake token left
  std::atomic<uint64_t> evictions{0};             // entries dropped while they still counted
  std::atomic<uint64_t> table_full{0};            // admitted unlimited: every entry was live
};
ClientLimitCounters& client_limit_counters();

// What admit() decided.
struct ClientVerdict {
  enum Kind { kAdmit, kOverConnections, kOverRate } kind = kAdmit;
  int retry_after = 0;  // seconds, for kOverConnections and kOverRate
};

class ClientLimits {
 public:
  static constexpr size_t kWays = 8;  // entries per group

  // `entries` is rounded up to whole groups; `seed` keys the hash.
  ClientLimits(size_t entries, uint64_t seed);
  ClientLimits(const ClientLimits&) = delete;
  ClientLimits& operator=(const ClientLimits&) = delete;

  // Counts a new connection from `peer` and takes a handshake token. On kAdmit, *slot is
  // the entry to release() when the connection ends, or kNoSlot when there is nothing to
  // release (fail open, or no entry needed).
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  ClientVerdict admit(const sockaddr_storage& peer, const ClientLimitSettings& s, uint64_t now_us,
                      uint32_t* slot);
  // The connection admitted into `slot` ended.
  void release(uint32_t slot);

  size_t entries() const { return entries_.size(); }
  // The table's memory, fixed at construction.
  size_t memory_bytes() const { return entries_.size() * sizeof(Entry); }
  // Live connections counted for peer's address (tests).
  uint32_t live(const sockaddr_storage& peer, int ipv6_prefix);

  struct Key {
    uint64_t hi = 0, lo = 0;  // IPv4 as ::ffff:a.b.c.d; IPv6 masked to the prefix
    bool operator==(const Key& o) const { return hi == o.hi && lo == o.lo; }
  };
  // An address as the table keys it.
  static Key key_of(const sockaddr_storage& peer, int ipv6_prefix);

 private:
  // 32 bytes. An entry with no live connection and a full bucket holds nothing worth keeping:
  // it is free, whatever key it still has.
  struct Entry {
    Key key;
    uint32_t live = 0;
    uint32_t used_s = 0;  // last admit, seconds on the table's clock: for least recently used
    uint64_t tat_us = 0;  // the bucket as GCRA keeps it: when it will be full again
  };
  static constexpr size_t kStripes = 64;

  size_t group_of(const Key& k) const;
  std::mutex& lock_of(size_t group) { return stripes_[group % kStripes]; }
  uint32_t find_or_claim(size_t group, const Key& k, uint64_t now_us);

  std::vector<Entry> entries_;
  size_t groups_;
  uint64_t seed_[2];
  std::mutex stripes_[kStripes];
};

// The connection's share of the table: releases it when the session ends, whatever the path.
class ClientSlot {
 public:
  ClientSlot() = default;
  ~ClientSlot() { reset(); }
  ClientSlot(const ClientSlot&) = delete;
  ClientSlot& operator=(const ClientSlot&) = delete;
  // Asks `table` to admit `peer`; the slot keeps the table alive until it releases.
  ClientVerdict admit(std::shared_ptr<ClientLimits> table, const sockaddr_storage& peer,
                      const ClientLimitSettings& s, uint64_t now_us);
  void reset();

 private:
  std::shared_ptr<ClientLimits> table_;
  uint32_t slot_ = ClientLimits::kNoSlot;
};

// The process' table for `entries`: the one already made when its size is the same, so a
// reload keeps the counts; a new one when the size changed (sessions keep releasing into the
// old one, which goes with the last of them).
std::shared_ptr<ClientLimits> shared_client_limits(size_t entries);

// "10/s", "300/m", "2/h", or 0 / off -> microseconds per token (0: off); false if bad.
bool parse_rate(const std::string& text, uint64_t& interval_us, uint64_t& per_second_ceil);
// handshake_rate_per_ip: checks and stores the canonical form ("10/s", or "0").
bool check_rate(std::string& v, std::string& err);
// The settings of a config's keys.
struct Config;
ClientLimitSettings client_limit_settings(const Config& c);

// Logs a refused client at most once a second, with how many were refused meanwhile.
void log_client_refused(const std::string& peer, const ClientVerdict& v,
                        const ClientLimitSettings& s, uint64_t now_us);
