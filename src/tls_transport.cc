#include "tls_transport.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "block_cache.h"
#include "log.h"
#include "tls.h"
#include "tls_bio.h"

namespace {

// A record's worth of plaintext: reads start at one record, writes offer one record per call
// (partial writes return after each record), so a message is never cut into small records.
constexpr uint32_t kRecord = 16384;
// OpenSSL's read buffer with read ahead for a peer that sends in bulk: four full records per
// system call. Released while empty (SSL_MODE_RELEASE_BUFFERS), so only a connection with
// bytes in flight holds it. Until a read fills its space, OpenSSL's one-record default does:
// handshakes and small messages then allocate and free a quarter as much per connection,
// which glibc would otherwise hand back to the kernel (madvise) only to fault it in again.
constexpr size_t kReadAhead = 4 * (16384 + 512);
// Most written to one socket in one wake-up, as reads have their budget.
constexpr size_t kWriteBudget = 512 * 1024;

// Empties OpenSSL's error queue before a call whose SSL_get_error is read. It is almost
// always empty already, and looking costs less than clearing all of its slots.
void clear_errors() {
  if (ERR_peek_error()) ERR_clear_error();
}

// A peer that closes, with close_notify or without (allowed, as for plain TCP).
bool is_eof(int ssl_err, int sys) {
  if (ssl_err == SSL_ERROR_ZERO_RETURN) return true;
  if (ssl_err == SSL_ERROR_SYSCALL) return sys == 0 && ERR_peek_error() == 0;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
  if (ssl_err == SSL_ERROR_SSL)
    return ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#endif
  return false;
}

// What every connection's SSL gets, whichever context it comes from.
void configure(SSL* ssl) {
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                        SSL_MODE_RELEASE_BUFFERS);
  long opts = SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  opts |= SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
  SSL_set_options(ssl, opts);
  // OpenSSL then reads what the socket has, up to its buffer, not a record header and a body
  // in two system calls.
  SSL_set_read_ahead(ssl, 1);
}

// The socket under the SSL, read and written with bare system calls (tls_bio.h).
bool attach_socket(SSL* ssl, int fd) {
  BIO* b = tls_socket_bio(fd);
  if (!b) return false;
  SSL_set_bio(ssl, b, b);
  return true;
}

}  // namespace

// OpenSSL's record buffers are released while empty, so a busy connection takes and frees
// them for every message. The sizes come from a throwaway SSL set up as every connection is:
// whatever this OpenSSL allocates, the block cache keeps.
void tls_cache_record_buffers() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL* ssl = ctx ? SSL_new(ctx) : nullptr;
  if (ssl) {
    configure(ssl);
    block_cache_learn(true);
    SSL_alloc_buffers(ssl);
    SSL_free_buffers(ssl);
    SSL_set_default_read_buffer_len(ssl, kReadAhead);  // a bulk reader's
    SSL_alloc_buffers(ssl);
    block_cache_learn(false);
    SSL_free(ssl);
  }
  SSL_CTX_free(ctx);
}

// SSL_new and the socket BIO are all that can fail before the handshake starts.
std::unique_ptr<TlsTransport> TlsTransport::accept(event_base* base, int fd, const sockaddr* peer,
                                                   SSL_CTX* ctx) {
  SSL* ssl = SSL_new(ctx);
  if (!ssl || !attach_socket(ssl, fd)) {
    if (ssl) SSL_free(ssl);
    evutil_closesocket(fd);
    return nullptr;
  }
  return std::unique_ptr<TlsTransport>(new TlsTransport(base, fd, peer, ssl));
}

TlsTransport::TlsTransport(event_base* base, int fd, const sockaddr* peer, SSL* ssl)
    : SocketTransport(base, fd, peer, kRecord), ssl_(ssl), accepted_(true) {
  info_->tls = true;
  setup();
  SSL_set_accept_state(ssl_);
  handshake();
}

TlsTransport::TlsTransport(event_base* base, SSL* ssl) : SocketTransport(base, kRecord), ssl_(ssl) {
  setup();
}

// Before the socket closes (the base's destructor), since the SSL's BIO points at it.
TlsTransport::~TlsTransport() {
  SSL_free(ssl_);
}

// Per connection, so that both contexts (the listeners' and each route's) get them.
void TlsTransport::setup() {
  configure(ssl_);
  SSL_set_app_data(ssl_, this);
}

// The TCP connect is done: the client side of the handshake starts on the socket.
void TlsTransport::tcp_connected() {
  if (!attach_socket(ssl_, fd_)) {
    fail_tls(SSL_ERROR_SSL, 0);
    return;
  }
  SSL_set_connect_state(ssl_);
  handshake();
}

// One step of the handshake; the event it waits for is armed, nothing else.
void TlsTransport::handshake() {
  clear_errors();
  int r = SSL_do_handshake(ssl_);
  int sys = errno;
  if (r == 1) {
    handshake_done();
    return;
  }
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    hs_wants_read_ = e == SSL_ERROR_WANT_READ;
    arm_write(!hs_wants_read_);
    update_read();
    return;
  }
  if (accepted_ && is_eof(e, sys)) {
    // A client (or a health check) that leaves before TLS is a plain EOF, not worth a log line.
    ERR_clear_error();
    hs_wants_read_ = false;
    eof_ = true;
    arm_write(false);
    update_read();
    notify(kPendEof);
    return;
  }
  fail_tls(e, sys);
  if (accepted_) log_info("%s: TLS handshake failed: %s", info_->peer.c_str(), error().c_str());
}

// An accepted client says nothing until its first bytes; a backend connection is ready.
void TlsTransport::handshake_done() {
  open_ = true;
  hs_wants_read_ = false;
  arm_write(false);
  // After a TLS 1.2 handshake, any handshake message from the peer is a renegotiation.
  if (SSL_version(ssl_) < TLS1_3_VERSION) SSL_set_msg_callback(ssl_, on_message);
  if (accepted_)
    tls_session_info(ssl_, *info_);
  else
    established();
  update_read();
  if (out_ && evbuffer_get_length(out_)) write_some();
  if (pending_) activate();
}

// OpenSSL's message callback: only a peer's handshake message after the handshake matters.
void TlsTransport::on_message(int write_p, int, int type, const void*, size_t, SSL* ssl, void*) {
  TlsTransport* t = static_cast<TlsTransport*>(SSL_get_app_data(ssl));
  if (!write_p && type == SSL3_RT_HANDSHAKE && t && t->open_) t->renegotiating_ = true;
}

// A write that waited on readability goes first; reading comes last, as it may free us.
void TlsTransport::readable_io() {
  if (failed_) return;
  if (!open_) {
    handshake();
    return;
  }
  if (write_wants_read_) {
    write_wants_read_ = false;
    write_some();
    if (pending_) activate();
    if (failed_) return;
  }
  if (!eof_) read_some();  // may free this: nothing after it
}

// A read that waited on writability is run from its own event, never from here.
void TlsTransport::writable_io() {
  if (!open_) {
    handshake();
    return;
  }
  if (read_wants_write_) {
    read_wants_write_ = false;
    event_active(read_ev_, EV_READ, 1);
  }
  write_some();
}

// SSL_read until the space is full or OpenSSL needs the socket: with read ahead, it takes
// what the socket holds (16 KiB and more) in one system call and decrypts record by record.
ssize_t TlsTransport::read_iov(const iovec* iov, int n, size_t space) {
  if (eof_seen_) return 0;
  // Asked for more than a record: a read filled its space, so the peer sends in bulk. From
  // OpenSSL's next buffer on (it is released while empty), read four records per read(2).
  if (space > kRecord && !bulk_) {
    bulk_ = true;
    SSL_set_default_read_buffer_len(ssl_, kReadAhead);
  }
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    size_t off = 0;
    while (off < iov[i].iov_len) {
      size_t got = 0;
      clear_errors();
      int r =
          SSL_read_ex(ssl_, static_cast<char*>(iov[i].iov_base) + off, iov[i].iov_len - off, &got);
      int sys = errno;
      if (renegotiating_) {
        tls_err_ = "TLS: the peer tried to renegotiate, which is disabled";
        if (accepted_) log_info("%s: %s: closing", info_->peer.c_str(), tls_err_.c_str());
        fail(0);
        return total ? static_cast<ssize_t>(total) : -1;
      }
      if (r == 1) {
        off += got;
        total += got;
        // A short record with nothing behind it in OpenSSL: the peer's write is in, and
        // asking again would only cost a read(2) that finds the socket empty. OpenSSL then
        // holds nothing, which io_buffered() need not ask again.
        read_blocked_ = got < kRecord && !SSL_has_pending(ssl_);
        if (read_blocked_) return static_cast<ssize_t>(total);
        continue;
      }
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ) {
        read_blocked_ = true;
      } else if (e == SSL_ERROR_WANT_WRITE) {
        read_wants_write_ = true;
        arm_write(true);
      } else if (is_eof(e, sys)) {
        // Reported now, or by the next read if bytes came first: no event would say it again
        // when close_notify came without a FIN.
        ERR_clear_error();
        eof_seen_ = true;
        return static_cast<ssize_t>(total);
      } else {
        fail_tls(e, sys);  // the bytes before the failure still go to the owner
      }
      return total ? static_cast<ssize_t>(total) : -1;
    }
  }
  return static_cast<ssize_t>(total);
}

// A record at a time from the front of the output, pulled together when it is in small
// chain pieces. After WANT_WRITE the same bytes (or more) must be offered again.
void TlsTransport::write_out() {
  size_t budget = kWriteBudget;
  while (size_t len = evbuffer_get_length(out_)) {
    size_t want = std::min(len, std::max<size_t>(retry_len_, kRecord));
    const unsigned char* p = evbuffer_pullup(out_, static_cast<ev_ssize_t>(want));
    if (!p) {
      fail(ENOMEM);
      return;
    }
    size_t n = 0;
    clear_errors();
    int r = SSL_write_ex(ssl_, p, want, &n);
    int sys = errno;
    if (r == 1) {
      retry_len_ = 0;
      evbuffer_drain(out_, n);
      bytes_written_ += n;
      if (n >= budget) return;
      budget -= n;
      continue;
    }
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
      retry_len_ = want;
      write_wants_read_ = e == SSL_ERROR_WANT_READ;
      if (write_wants_read_) update_read();
      return;
    }
    fail_tls(e, sys);
    return;
  }
}

// close_notify, then the FIN.
bool TlsTransport::write_end() {
  if (!close_notify_sent_) {
    clear_errors();
    int r = SSL_shutdown(ssl_);
    int sys = errno;
    int e = r < 0 ? SSL_get_error(ssl_, r) : SSL_ERROR_NONE;
    if (e == SSL_ERROR_WANT_WRITE) return false;
    // WANT_READ would be for the peer's close_notify, which the owner waits for as an EOF.
    if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
      fail_tls(e, sys);
      return false;
    }
    close_notify_sent_ = true;
  }
  ::shutdown(fd_, SHUT_WR);
  return true;
}

// As for any socket once the handshake is done; before it, the answer has nowhere to go.
void TlsTransport::shutdown_write(int timeout_sec) {
  if (open_ || shut_wanted_) {
    SocketTransport::shutdown_write(timeout_sec);
    return;
  }
  // A peer that never finished the handshake cannot read an answer: drop it and close.
  shut_wanted_ = true;
  if (out_) evbuffer_drain(out_, evbuffer_get_length(out_));
  if (tls_err_.empty()) tls_err_ = "TLS handshake not finished";
  fail(0);
}

// Keeps the reason in words, with the verify result that names a certificate problem.
void TlsTransport::fail_tls(int ssl_err, int sys) {
  unsigned long code = ERR_peek_error();
  bool openssl = ssl_err == SSL_ERROR_SSL && code && ERR_GET_LIB(code) != ERR_LIB_SYS;
  // A client's failed handshake is counted by kind (the metrics' reason label).
  if (accepted_ && !open_ && info_) info_->tls_failure = tls_failure_kind(openssl ? code : 0);
  if (openssl) {
    tls_err_ = tls_failure_reason(ssl_, code);
    ERR_clear_error();
    fail(0);
    return;
  }
  ERR_clear_error();
  // A peer that hangs up in the middle of the handshake (one that wants a client certificate
  // may, without an alert) leaves no errno to tell it by.
  if (!sys && !open_) tls_err_ = "TLS: the peer closed the connection during the handshake";
  fail(sys);
}

// OpenSSL's words when they say more than errno.
std::string TlsTransport::error() const {
  return tls_err_.empty() ? SocketTransport::error() : tls_err_;
}

// The handshake, or a write blocked on a read, waits for readability whatever the owner wants.
bool TlsTransport::io_needs_read() const {
  return (!open_ && hs_wants_read_ && !eof_) || write_wants_read_;
}

// No application bytes move before the handshake is done.
bool TlsTransport::io_open() const {
  return open_;
}

// Decrypted bytes, or whole records read ahead, wait in OpenSSL unless the last read found
// nothing; then the socket's next bytes wake us as usual. So does an EOF seen behind bytes.
bool TlsTransport::io_buffered() const {
  return open_ && (eof_seen_ || (!read_blocked_ && SSL_has_pending(ssl_)));
}

// A write blocked on a read must not spin on writability.
bool TlsTransport::wants_write(bool have_output) const {
  return (have_output && !write_wants_read_) || read_wants_write_;
}
