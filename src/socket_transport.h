// What plain TCP and TLS share: a non-blocking socket of our own with a read event, a write
// event only while needed, evbuffers from a per-thread pool held only while they hold bytes,
// non-blocking connects (numeric or through evdns), adaptive large reads, writes at once when
// idle, and notifications deferred to the next loop turn. A subclass says how bytes cross.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <memory>
#include <string>

#include "transport.h"

struct event;
struct event_base;
struct evdns_base;
struct evdns_getaddrinfo_request;
struct addrinfo;
struct iovec;
struct BackendAddr;

class SocketTransport : public Transport {
 public:
  ~SocketTransport() override;
  SocketTransport(const SocketTransport&) = delete;
  SocketTransport& operator=(const SocketTransport&) = delete;

  // Starts connecting to a tcp://, ws://, wss:// or unix: address; kConnected or kError
  // follows. False, with err, when it cannot even start.
  bool connect(const BackendAddr& addr, evdns_base* dns, std::string& err);

  evbuffer* input() override;
  evbuffer* output() override;
  void flush() override;
  bool congested() const override;
  void set_reading(bool on) override;
  void set_read_limit(size_t bytes) override;
  void shutdown_write(int timeout_sec) override;
  std::string error() const override;
  // Held until the connect completes, then written raw before the subclass starts (TLS too).
  void set_preamble(const void* data, size_t len) override;
  void learn_local_address() override;

 protected:
  enum Pending : uint8_t {
    kPendConnected = 1,
    kPendDrained = 2,
    kPendEof = 4,
    kPendShutdown = 8,
    kPendError = 16,
    kPendTimeout = 32,
  };

  // An accepted socket, owned from now on; reading starts when the subclass calls update_read.
  SocketTransport(event_base* base, int fd, const sockaddr* peer, uint32_t min_read);
  // A socket still to be opened by connect().
  SocketTransport(event_base* base, uint32_t min_read);

  // ---- how bytes cross, per subclass ----
  // Reads into iov (`space` bytes in all): bytes read, 0 at the end of the stream, -1 when
  // nothing is there now or after fail().
  virtual ssize_t read_iov(const iovec* iov, int n, size_t space) = 0;
  // Writes from out_ what the socket takes, counting bytes_written_; fail()s on errors.
  virtual void write_out() = 0;
  // Ends our direction once the output is out: true when done, false to retry when writable.
  virtual bool write_end() = 0;
  // The TCP connect has completed.
  virtual void tcp_connected() = 0;
  // The socket became readable or writable; a subclass may have a handshake to drive first.
  virtual void readable_io() { read_some(); }
  virtual void writable_io() { write_some(); }
  // The read event is needed whatever the owner wants (a handshake, a write waiting on a read).
  virtual bool io_needs_read() const { return false; }
  // The owner's bytes may move (false until a TLS handshake is done).
  virtual bool io_open() const { return true; }
  // Bytes taken off the socket already, which no read event will announce.
  virtual bool io_buffered() const { return false; }
  // Whether the write event is wanted: for the output, or for a TLS read waiting on a write;
  // not while a write waits on readability, or the event would spin.
  virtual bool wants_write(bool have_output) const { return have_output; }

  // ---- shared machinery ----
  // The connection is ready for the owner's bytes: kConnected, and reading starts.
  void established();
  void read_some();
  void write_some();
  void update_read();
  void arm_write(bool on);
  void fail(int err);
  void notify(uint8_t what);
  void activate();

  event_base* base_;
  int fd_ = -1;
  evbuffer* in_ = nullptr;  // from the thread's pool while it holds bytes
  evbuffer* out_ = nullptr;
  event* read_ev_ = nullptr;
  uint8_t pending_ = 0;
  bool eof_ = false;
  bool failed_ = false;
  bool shut_wanted_ = false;
  bool connecting_ = false;

 private:
  static void on_read(int fd, short what, void* ctx);
  static void on_write(int fd, short what, void* ctx);
  static void on_resolved(int err, addrinfo* ai, void* ctx);
  void use_fd(int fd);
  void need_write_ev();
  void start_connect(const sockaddr* sa, socklen_t len);
  void finish_connect();
  bool send_preamble();
  void flush_now();
  void release_empty();
  void deliver();

  event* write_ev_ = nullptr;  // only while needed; also delivers the deferred notifications
  evdns_getaddrinfo_request* dns_req_ = nullptr;
  std::unique_ptr<std::string> preamble_;  // what of it is still to go; only until it has
  size_t read_limit_ = SIZE_MAX;
  uint32_t min_read_;
  uint32_t read_size_;  // grows while reads fill it, shrinks when they do not
  int write_timeout_ = 0;
  int err_ = 0;
  int dns_err_ = 0;
  bool reading_ = true;  // as the owner wants
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool shut_done_ = false;
  bool congested_ = false;
};
