// The counters behind the metrics endpoint beyond WorkerCounters' totals: per-route blocks,
// close codes in a few slots, the backend connect time histogram. Like WorkerCounters, each is
// written only by its worker's thread (relaxed load and store, no lock) and read by any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "transport.h"

class Route;
class Router;

// Adds n to a counter; for the owning thread only, so a plain load and store suffice.
inline void counter_add(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Microseconds on a clock that never jumps, for durations.
uint64_t monotonic_us();

// HTTP statuses are counted by number, 0 to 599.
constexpr int kStatusSlots = 600;

// Close codes: 1000 to 1015 each, then 3000-3999, 4000-4999 and any other in one slot each,
// so that a peer cannot grow the table.
constexpr int kCloseSlots = 19;
int close_slot(uint16_t code);
// The code label of a slot: "1000" ... "1015", "3xxx", "4xxx", "other".
const char* close_slot_label(int slot);

constexpr int kTlsFailureKinds = static_cast<int>(TlsFailure::kCount);
// The reason label of a TLS failure kind: "plain_http", "no_shared_cipher" ...
const char* tls_failure_label(TlsFailure kind);

// Connections a proxy listener closed before its PROXY header was read, by reason:
// malformed, oversized, timeout, closed (the peer left first); proxy_accept.cc names them.
constexpr int kProxyRefusalKinds = 4;
const char* proxy_refusal_label(int kind);

// Backend connect times, in the buckets Prometheus histograms are read in.
struct ConnectHistogram {
  static constexpr int kBuckets = 12;
  static const uint64_t kBoundsUs[kBuckets];        // upper bounds; a last bucket takes the rest
  std::atomic<uint64_t> counts[kBuckets + 1] = {};  // per bucket, not cumulative
  std::atomic<uint64_t> sum_us{0};
  // For the owning thread only.
  void observe(uint64_t us);
};

// One route's counters in one worker, for WebSocket sessions (101 sent) on it.
struct RouteCounters {
  explicit RouteCounters(std::string n) : name(std::move(n)) {}
  const std::string name;
  std::atomic<uint64_t> opened{0};                        // 101s sent
  std::atomic<uint64_t> open{0};                          // of those, not finished yet
  std::atomic<uint64_t> messages_in{0}, messages_out{0};  // at session end
  std::atomic<uint64_t> bytes_in{0}, bytes_out{0};        // the client's socket, at session end
};

// A worker's route blocks, one per route name. Blocks are never freed while the worker lives,
// so sessions still on an older Runtime and the metrics thread never see one go, and a route
// that a reload keeps by name keeps counting.
class RouteCounterSet {
 public:
  // The blocks of a router's routes by their index (the worker's thread, at start and when its
  // Runtime changes).
  void index(const Router& router);
  // The block of a route: by index for the indexed router's routes, else by name (the worker's
  // thread).
  RouteCounters& of(const Route& route);
  // Calls fn(const RouteCounters&) for each block (any thread).
  template <typename Fn>
  void each(Fn fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& b : blocks_) fn(*b);
  }

 private:
  RouteCounters& named(const std::string& name);

  // Guards blocks_ against the worker's appends while another thread walks it; the hot path
  // never takes it.
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<RouteCounters>> blocks_;
  const Router* router_ = nullptr;
  std::vector<RouteCounters*> by_index_;
};
