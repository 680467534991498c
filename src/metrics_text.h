// The Prometheus text exposition format (0.0.4) of a snapshot of wsgate's figures: a pure
// function, so the format is unit-tested apart from the HTTP server that serves it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// One route's figures, summed over the workers.
struct RouteSample {
  std::string name;
  uint64_t open = 0;    // WebSocket sessions open now
  uint64_t opened = 0;  // 101s sent
  uint64_t messages_in = 0, messages_out = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
};

// A count under one label value.
struct LabeledCount {
  std::string label;
  uint64_t value = 0;
};

// What one scrape shows, gathered without locks from the workers and the process.
struct MetricsSnapshot {
  uint64_t client_open = 0;   // client connections, the handshake included
  uint64_t client_total = 0;  // accepted
  std::vector<RouteSample> routes;
  std::vector<LabeledCount> statuses;  // by HTTP status; only those that happened
  std::vector<LabeledCount> close_sent;
  std::vector<LabeledCount> close_received;
  std::vector<double> connect_bounds;    // seconds, ascending
  std::vector<uint64_t> connect_counts;  // per bucket, not cumulative; the last is above all
  double connect_sum = 0;                // seconds
  uint64_t backend_failures = 0;
  uint64_t tls_handshakes = 0;
  std::vector<LabeledCount> tls_failures;  // by reason
  std::vector<LabeledCount> proxy_errors;  // proxy listeners' refusals, by reason
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;
  uint64_t generation = 0;
  uint64_t old_generation_sessions = 0;
  bool draining = false;
  // Per-client limits (client_limits.h).
  uint64_t per_ip_rejected_connections = 0;
  uint64_t per_ip_rejected_rate = 0;
  uint64_t per_ip_evictions = 0;
  uint64_t per_ip_table_full = 0;
  // The process; negative when it cannot be read.
  int64_t open_fds = -1;
  int64_t max_fds = -1;
  int64_t resident_bytes = -1;
  int64_t virtual_bytes = -1;
};

// The exposition: HELP and TYPE for every family, then its samples.
std::string metrics_text(const MetricsSnapshot& s);
// A label value with \, " and newline escaped as the format asks.
std::string prometheus_label_value(std::string_view v);
