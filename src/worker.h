// One worker thread: its own event_base, resolver, listeners and sessions.
#pragma once

#include <time.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "runtime.h"
#include "session_host.h"

struct event;
struct event_base;
struct evdns_base;
struct evconnlistener;
class Session;
class ProxyFilters;

// Whether a listen address is free for us (not taken by another process); err says why not.
bool listen_address_free(const ListenAddr& a, std::string& err);
// Whether two listen addresses are the same socket address, however they were written.
bool listen_same_address(const ListenAddr& a, const ListenAddr& b);

class Worker final : public SessionHost {
 public:
  Worker(int id, std::shared_ptr<const Runtime> rt, std::atomic<uint64_t>& active);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds this worker's SO_REUSEPORT listeners for its runtime; false with err on failure.
  bool listen(std::string& err);
  void start();
  // Asks the worker, from any thread, to stop accepting and close its sessions.
  void stop();
  // Hands the worker, from any thread, what new connections are to be served with: its
  // listeners follow the new list (unchanged ones keep their sockets), and open sessions keep
  // the Runtime they started with.
  void use_runtime(std::shared_ptr<const Runtime> rt);
  // Whether new connections get `rt` now (its listeners in place), for use_runtime's caller.
  bool serves(const Runtime* rt) const { return serving_.load() == rt; }
  void join();

  int id() const { return id_; }
  // True once the worker's loop has ended (after stop()).
  bool finished() const { return finished_.load(); }
  const WorkerCounters& counters() const { return counters_; }
  // Per-route counters, for the metrics thread.
  const RouteCounterSet& route_counter_set() const { return route_counters_; }

  // SessionHost
  event_base* base() override { return base_; }
  WorkerCounters& counters() override { return counters_; }
  std::unique_ptr<Transport> connect_backend(const BackendAddr& addr, SSL_CTX* tls, bool verify,
                                             std::string& err) override;
  void session_done(Session* s) override;
  RouteCounters* route_counters(const Route& r) override { return &route_counters_.of(r); }

 private:
  static void on_accept(evconnlistener* l, int fd, sockaddr* addr, int len, void* ctx);
  static void on_accept_error(evconnlistener* l, void* ctx);
  static void on_resume(int fd, short what, void* ctx);
  static void on_wake(int fd, short what, void* ctx);
  // Wakes the loop from another thread.
  void wake();
  // Stops accepting and closes the sessions (on_wake, when stop() asked).
  void stop_now();
  // Swaps in the Runtime that use_runtime() left, if any.
  void take_runtime();
  static void on_deadline(int fd, short what, void* ctx);
  void run();
  // Counts a new client connection against max_connections; true if it is over.
  bool reserve_connection();
  // Gives back a reservation that never became a session.
  void release_connection();
  // A session for an accepted socket; `proxy` holds a PROXY header's addresses, or null.
  void serve(int fd, const sockaddr* peer, bool tls, bool over, const struct ProxyHeader* proxy);
  // Makes the listeners match `want`: closes those gone, binds the new, keeps the rest.
  bool follow_listeners(const std::vector<ListenAddr>& want, std::string& err);

  struct Listener {
    ListenAddr addr;  // its tls flag may change on a reload; the socket stays
    evconnlistener* l;
  };

  int id_;
  std::shared_ptr<const Runtime> rt_;
  std::atomic<uint64_t>& active_;
  event_base* base_ = nullptr;
  evdns_base* dns_ = nullptr;
  std::vector<Listener> listeners_;
  // Other threads only write to wake_fd_: the base has no lock (EVENT_BASE_FLAG_NOLOCK).
  int wake_fd_ = -1;
  event* wake_ev_ = nullptr;
  std::atomic<bool> stop_asked_{false};
  std::mutex next_rt_mu_;
  std::shared_ptr<const Runtime> next_rt_;        // from use_runtime(), until the worker takes it
  std::atomic<const Runtime*> serving_{nullptr};  // rt_, once its listeners are in place
  event* resume_ev_ = nullptr;
  event* deadline_ev_ = nullptr;
  Session* sessions_ = nullptr;
  std::unique_ptr<ProxyFilters> proxy_filters_;  // proxy listeners' connections before a session
  bool stopping_ = false;
  time_t last_accept_warn_ = 0;
  uint64_t accept_failures_ = 0;  // since the last warning
  WorkerCounters counters_;
  RouteCounterSet route_counters_;  // indexed for rt_'s routes
  std::atomic<bool> finished_{false};
  std::thread thread_;
};
