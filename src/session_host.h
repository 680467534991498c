// What a session needs of the worker that runs it: the event loop, backend connections, the
// counters and a way to end. A unit test stands in for the worker through this.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "counters.h"
#include "transport.h"

struct event_base;
struct BackendAddr;
class Route;
class Session;
typedef struct ssl_ctx_st SSL_CTX;

// One worker's counters. Only the worker's own thread writes them, with plain loads and
// stores, so the hot path takes no lock; any thread may read them (the metrics endpoint).
struct WorkerCounters {
  std::atomic<uint64_t> accepted{0};          // client connections
  std::atomic<uint64_t> active{0};            // sessions not yet finished
  std::atomic<uint64_t> upgraded{0};          // 101s sent
  std::atomic<uint64_t> rejected{0};          // HTTP errors sent instead of a 101
  std::atomic<uint64_t> backend_failures{0};  // backends unreachable or refusing the upgrade
  std::atomic<uint64_t> tls_failures{0};      // clients whose TLS handshake failed
  std::atomic<uint64_t> messages_in{0};       // data messages from clients, at session end
  std::atomic<uint64_t> messages_out{0};      // data messages to clients, at session end
  std::atomic<uint64_t> bytes_in{0};          // from clients, at session end
  std::atomic<uint64_t> bytes_out{0};         // to clients, at session end
  // For the metrics endpoint (counters.h).
  std::atomic<uint64_t> tls_handshakes{0};  // clients' finished TLS handshakes, at session end
  std::atomic<uint64_t> tls_failure_kinds[kTlsFailureKinds] = {};
  std::atomic<uint64_t> statuses[kStatusSlots] = {};       // handshake answers by HTTP status
  std::atomic<uint64_t> close_sent[kCloseSlots] = {};      // close codes sent to clients
  std::atomic<uint64_t> close_received[kCloseSlots] = {};  // close codes clients sent
  ConnectHistogram backend_connect;
  std::atomic<uint64_t> old_generation{0};  // sessions on an older Runtime than the worker's
  std::atomic<uint64_t> proxy_refusals[kProxyRefusalKinds] = {};  // proxy listeners, by reason

  // Adds n; for the owning thread only.
  static void add(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual event_base* base() = 0;
  virtual WorkerCounters& counters() = 0;
  // A transport connecting to a backend (kConnected or kError follows), or null with err.
  virtual std::unique_ptr<Transport> connect_backend(const BackendAddr& addr, SSL_CTX* tls,
                                                     bool verify, std::string& err) = 0;
  // The session has nothing left to do: the host unlinks and frees it.
  virtual void session_done(Session* s) = 0;
  // The counters of a route for the metrics; null where nobody reads them (unit tests).
  virtual RouteCounters* route_counters(const Route&) { return nullptr; }
};
