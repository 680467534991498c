#include "counters.h"

#include <time.h>

#include "route.h"

uint64_t monotonic_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

int close_slot(uint16_t code) {
  if (code >= 1000 && code <= 1015) return code - 1000;
  if (code >= 3000 && code <= 3999) return 16;
  if (code >= 4000 && code <= 4999) return 17;
  return 18;
}

const char* close_slot_label(int slot) {
  static const char* const kLabels[kCloseSlots] = {
      "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009",
      "1010", "1011", "1012", "1013", "1014", "1015", "3xxx", "4xxx", "other"};
  return slot >= 0 && slot < kCloseSlots ? kLabels[slot] : "other";
}

const char* tls_failure_label(TlsFailure kind) {
  switch (kind) {
    case TlsFailure::kNone:
      return "none";
    case TlsFailure::kPlainHttp:
      return "plain_http";
    case TlsFailure::kNotTls:
      return "not_tls";
    case TlsFailure::kNoSharedCipher:
      return "no_shared_cipher";
    case TlsFailure::kVersion:
      return "protocol_version";
    case TlsFailure::kNoClientCert:
      return "no_client_certificate";
    case TlsFailure::kCertificate:
      return "certificate";
    case TlsFailure::kConnection:
      return "connection";
    case TlsFailure::kOther:
    case TlsFailure::kCount:
      break;
  }
  return "other";
}

// The buckets Prometheus client libraries use by default, from 1 ms on.
const uint64_t ConnectHistogram::kBoundsUs[kBuckets] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};

void ConnectHistogram::observe(uint64_t us) {
  int i = 0;
  while (i < kBuckets && us > kBoundsUs[i]) i++;
  counter_add(counts[i]);
  counter_add(sum_us, us);
}

void RouteCounterSet::index(const Router& router) {
  router_ = &router;
  by_index_.clear();
  for (const auto& r : router.routes()) by_index_.push_back(&named(r->name()));
}

RouteCounters& RouteCounterSet::of(const Route& route) {
  size_t i = route.index();
  if (router_ && i < by_index_.size() && router_->routes()[i].get() == &route) return *by_index_[i];
  return named(route.name());
}

// Only this worker's thread appends, so it may read blocks_ without the lock.
RouteCounters& RouteCounterSet::named(const std::string& name) {
  for (const auto& b : blocks_)
    if (b->name == name) return *b;
  std::lock_guard<std::mutex> lock(mu_);
  blocks_.push_back(std::make_unique<RouteCounters>(name));
  return *blocks_.back();
}
