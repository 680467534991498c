// A transport over a libevent bufferevent: the TLS connection to a wss:// backend, or a client's
// on a tls listener (bufferevent_openssl), whose records libevent reads and writes whole.
#pragma once

#include "transport.h"

struct bufferevent;
struct event_base;
struct evdns_base;
struct sockaddr;
typedef struct ssl_ctx_st SSL_CTX;
struct BackendAddr;

class BevTransport final : public Transport {
 public:
  // Takes ownership of an unconnected bufferevent.
  explicit BevTransport(bufferevent* bev);
  ~BevTransport() override;
  // A client accepted on a tls listener: takes `fd` and starts the server side of the TLS
  // handshake. Null (fd closed) if it cannot be set up.
  static std::unique_ptr<BevTransport> accept_tls(event_base* base, int fd, const sockaddr* peer,
                                                  SSL_CTX* ctx);
  BevTransport(const BevTransport&) = delete;
  BevTransport& operator=(const BevTransport&) = delete;

  // Starts connecting; kConnected or kError follows. False, with err, when it cannot start.
  bool connect(const BackendAddr& addr, evdns_base* dns, std::string& err);

  evbuffer* input() override;
  evbuffer* output() override;
  void flush() override;
  void set_reading(bool on) override;
  void set_read_limit(size_t bytes) override;
  void shutdown_write(int timeout_sec) override;
  std::string error() const override;

 private:
  static void on_read(bufferevent* bev, void* ctx);
  static void on_write(bufferevent* bev, void* ctx);
  static void on_bev_event(bufferevent* bev, short what, void* ctx);

  // Fills info_ once the handshake is done: version and SNI.
  void tls_established();

  bufferevent* bev_;
  bool accepted_ = false;
  bool connected_ = false;
  bool reading_ = true;
  bool shut_wanted_ = false;
  bool shut_done_ = false;
  bool congested_ = false;
  // The OpenSSL error error() reported last, which it takes off the connection's queue: kept
  // to tell the kind of a failed handshake afterwards.
  mutable unsigned long tls_error_ = 0;
};
