// TLS on a socket of our own: OpenSSL reads and writes the socket directly (our socket BIO, read
// ahead), we SSL_read whole records into evbuffer space of 16 KiB and more and SSL_write up to
// a record at once. bufferevent_openssl read 4 KiB per SSL_read and copied through two more
// evbuffers. Idle connections keep neither OpenSSL's buffers (SSL_MODE_RELEASE_BUFFERS) nor
// evbuffers (SocketTransport's pool); busy ones reuse both from the thread's block cache.
#pragma once

#include <memory>

#include "socket_transport.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

// Teaches the block cache the sizes of OpenSSL's record buffers; once, before workers start.
void tls_cache_record_buffers();

class TlsTransport final : public SocketTransport {
 public:
  // A client accepted on a tls listener: takes `fd` and starts the server side of the
  // handshake. Nothing is reported until the client's first bytes. Null (fd closed) if it
  // cannot be set up.
  static std::unique_ptr<TlsTransport> accept(event_base* base, int fd, const sockaddr* peer,
                                              SSL_CTX* ctx);
  // A wss:// backend connection; takes `ssl` (from tls_client_session). connect() follows, and
  // kConnected comes once the handshake is done.
  TlsTransport(event_base* base, SSL* ssl);
  ~TlsTransport() override;

  void shutdown_write(int timeout_sec) override;
  std::string error() const override;

 private:
  TlsTransport(event_base* base, int fd, const sockaddr* peer, SSL* ssl);
  static void on_message(int write_p, int version, int type, const void* buf, size_t len, SSL* ssl,
                         void* arg);
  void setup();
  void handshake();
  void handshake_done();
  void fail_tls(int ssl_err, int sys);

  ssize_t read_iov(const iovec* iov, int n, size_t space) override;
  void write_out() override;
  bool write_end() override;
  void tcp_connected() override;
  void readable_io() override;
  void writable_io() override;
  bool io_needs_read() const override;
  bool io_open() const override;
  bool io_buffered() const override;
  bool wants_write(bool have_output) const override;

  SSL* ssl_;
  std::string tls_err_;
  size_t retry_len_ = 0;  // what a write that must be retried offered: at least that again
  bool accepted_ = false;
  bool open_ = false;  // the handshake is done
  bool hs_wants_read_ = false;
  bool read_blocked_ = false;  // the last SSL_read wanted the socket: OpenSSL holds no record
  bool eof_seen_ = false;      // behind the bytes the last read returned
  bool read_wants_write_ = false;
  bool write_wants_read_ = false;
  bool close_notify_sent_ = false;
  bool renegotiating_ = false;
  bool bulk_ = false;  // reads use the large read-ahead buffer
};
