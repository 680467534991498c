// A TCP or unix socket with reads of its own: libevent's socket bufferevent reads at most 4 KiB
// at a time, after an ioctl(FIONREAD), so a 16 KiB message cost four wake-ups per hop. This one
// reads into evbuffer space in one readv of up to kMaxRead, and writes at once when idle.
#pragma once

#include <sys/socket.h>

#include "transport.h"

struct event;
struct event_base;
struct evdns_base;
struct evdns_getaddrinfo_request;
struct addrinfo;
struct BackendAddr;

class PlainTransport final : public Transport {
 public:
  // An accepted socket, owned from now on.
  PlainTransport(event_base* base, int fd, const sockaddr* peer);
  // A socket still to be opened by connect().
  explicit PlainTransport(event_base* base);
  ~PlainTransport() override;
  PlainTransport(const PlainTransport&) = delete;
  PlainTransport& operator=(const PlainTransport&) = delete;

  // Starts connecting to a tcp://, ws:// or unix: address; kConnected or kError follows.
  // False, with err, when it cannot even start.
  bool connect(const BackendAddr& addr, evdns_base* dns, std::string& err);

  evbuffer* input() override;
  evbuffer* output() override;
  void flush() override;
  bool congested() const override;
  void set_reading(bool on) override;
  void set_read_limit(size_t bytes) override;
  void shutdown_write(int timeout_sec) override;
  std::string error() const override;

 private:
  enum Pending : uint8_t {
    kPendConnected = 1,
    kPendDrained = 2,
    kPendEof = 4,
    kPendShutdown = 8,
    kPendError = 16,
    kPendTimeout = 32,
  };

  static void on_read(int fd, short what, void* ctx);
  static void on_write(int fd, short what, void* ctx);
  static void on_resolved(int err, addrinfo* ai, void* ctx);
  void use_fd(int fd);
  void need_write_ev();
  void activate();
  void start_connect(const sockaddr* sa, socklen_t len);
  void finish_connect();
  void read_some();
  void flush_now();
  void release_empty();
  void write_some();
  void update_read();
  void arm_write(bool on);
  void fail(int err);
  void notify(uint8_t what);
  void deliver();

  event_base* base_;
  int fd_ = -1;
  evbuffer* in_ = nullptr;  // from the thread's pool while it holds bytes
  evbuffer* out_ = nullptr;
  event* read_ev_ = nullptr;
  event* write_ev_ = nullptr;  // only while needed; also delivers the deferred notifications
  evdns_getaddrinfo_request* dns_req_ = nullptr;
  size_t read_limit_ = SIZE_MAX;
  uint32_t read_size_;  // grows while reads fill it, shrinks when they do not
  int write_timeout_ = 0;
  int err_ = 0;
  int dns_err_ = 0;
  uint8_t pending_ = 0;
  bool reading_ = true;  // as the owner wants
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool connecting_ = false;
  bool eof_ = false;
  bool failed_ = false;
  bool shut_wanted_ = false;
  bool shut_done_ = false;
  bool congested_ = false;
};
