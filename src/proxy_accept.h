// The listener filter of proxy listeners: before a connection has a Transport or a Session,
// it reads the PROXY protocol header off the socket, and not one byte more, within a deadline,
// so that the TLS ClientHello or HTTP request after it reaches the transport untouched.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>

struct event_base;
struct ProxyHeader;

// Why a pending connection was closed; the first kProxyRefusalKinds are counted (counters.h).
enum class ProxyRefusal { kMalformed, kOversized, kTimeout, kClosed, kShutdown };

class ProxyFilters {
 public:
  // A header was read: `fd` now starts at the client's first byte; the header's addresses,
  // when it has them, replace the socket's.
  struct Accepted {
    int fd;
    const sockaddr* socket_peer;
    const ProxyHeader& header;
    bool tls;
    bool over_limit;
  };
  using OnAccepted = std::function<void(const Accepted&)>;
  // The connection was closed (its descriptor too) without a header.
  using OnRefused = std::function<void(ProxyRefusal)>;

  ProxyFilters(event_base* base, OnAccepted accepted, OnRefused refused);
  // Closes every pending connection, reporting each as kShutdown.
  ~ProxyFilters();
  ProxyFilters(const ProxyFilters&) = delete;
  ProxyFilters& operator=(const ProxyFilters&) = delete;

  // Takes over an accepted socket and waits up to timeout_ms for its header.
  void start(int fd, const sockaddr* peer, bool tls, bool over_limit, uint64_t timeout_ms);
  // Worker stop: closes every pending connection, reporting each as kShutdown.
  void clear();

 private:
  struct Pending;
  static void on_event(int fd, short what, void* ctx);
  void step(Pending* p, short what);
  void finish(Pending* p);
  void refuse(Pending* p, ProxyRefusal why, const char* detail);

  event_base* base_;
  OnAccepted accepted_;
  OnRefused refused_;
  Pending* pending_ = nullptr;  // a list, so that clear() finds them all
  int64_t last_log_ = 0;        // the second of the last refusal line, for the rate limit
  int logged_ = 0;              // lines in that second
  uint64_t unlogged_ = 0;       // refusals since the last line
};
