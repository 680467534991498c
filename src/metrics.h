// The metrics and health listener ([metrics] listen): libevent's evhttp on a thread and
// event_base of its own, so that a scrape never takes a worker's time. It reads the workers'
// counters without locks (atomics that only their owners write) and the process' figures from
// /proc.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "metrics_text.h"

struct event;
struct event_base;
struct evhttp;
struct evhttp_request;
class Worker;

// Process-wide figures that main.cc keeps and the metrics thread reads.
struct ProcessStats {
  std::atomic<uint64_t> reloads_ok{0};
  std::atomic<uint64_t> reloads_failed{0};
  std::atomic<uint64_t> generation{1};  // one more at each successful reload
  std::atomic<bool> draining{false};    // a stop signal came: /healthz answers 503
};

class MetricsServer {
 public:
  // Reads `workers` and `stats`, which must outlive it.
  MetricsServer(const std::vector<std::unique_ptr<Worker>>& workers, const ProcessStats& stats);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds the listener; false with err.
  bool listen(const ListenAddr& addr, std::string& err);
  void start();
  // From any thread: ends the server's loop and waits for its thread.
  void stop();
  // The figures of this moment, summed over the workers.
  MetricsSnapshot snapshot() const;

 private:
  static void on_metrics(evhttp_request* req, void* ctx);
  static void on_health(evhttp_request* req, void* ctx);
  static void on_other(evhttp_request* req, void* ctx);
  static void on_stop(int fd, short what, void* ctx);

  const std::vector<std::unique_ptr<Worker>>& workers_;
  const ProcessStats& stats_;
  event_base* base_ = nullptr;
  evhttp* http_ = nullptr;
  event* stop_ev_ = nullptr;
  std::thread thread_;
};
