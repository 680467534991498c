// wsbench's TLS client: the session setup and I/O its wss:// load and idle clients use, and
// the handshakes mode, which measures what a proxy spends on each new TLS connection.
//
// Every connection offers TLS 1.3 only and X25519 only, so that all proxies negotiate the same
// key exchange whatever their own defaults; the cipher suite is the server's pick among
// OpenSSL's defaults, and tls_describe reports it so that a mismatch shows.
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "wsbench.h"

namespace {

// The newest session a server handed out (handshakes -R), for the next connection to resume.
SSL_SESSION* latest_session = nullptr;
uint64_t tickets = 0;  // sessions the servers handed out

// OpenSSL's reason for the last failure, or "no reason".
const char* ssl_reason() {
  unsigned long e = ERR_get_error();
  const char* r = e ? ERR_reason_error_string(e) : nullptr;
  return r ? r : "no reason given";
}

// Keeps a copy of each new session from the server's tickets, replacing the one before. A copy:
// OpenSSL can mark a connection's session object not resumable as that connection closes (seen
// with nginx and wsgate closing after our close_notify), which would silently turn every
// "resumed" handshake after it into a full one.
int keep_session(SSL*, SSL_SESSION* s) {
  SSL_SESSION* copy = SSL_SESSION_dup(s);
  if (!copy) return 0;
  SSL_SESSION_free(latest_session);
  latest_session = copy;
  tickets++;
  return 0;  // OpenSSL keeps its reference to s
}

// The one client context of this process, made on first use.
SSL_CTX* client_context() {
  static SSL_CTX* ctx = nullptr;
  if (ctx) return ctx;
  ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) die("SSL_CTX_new: %s", ssl_reason());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  if (SSL_CTX_set1_groups_list(ctx, "X25519") != 1) die("X25519: %s", ssl_reason());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  // Frames are written from a buffer that may be resent from elsewhere after EAGAIN; a server
  // that closes without close_notify after ours is a normal end, not an error.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn - 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, keep_session);
  return ctx;
}

// -1 with errno EAGAIN for a TLS read or write that has to wait; dies on anything else but
// EOF, for which it returns 0.
ssize_t would_block_or_die(SSL* ssl, int ret, const char* what) {
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    case SSL_ERROR_SYSCALL:
      if (errno == 0 || errno == ECONNRESET) return 0;
      die("%s: %s", what, std::strerror(errno));
    default:
      die("%s: %s", what, ssl_reason());
  }
}

}  // namespace

SSL* tls_new_session(int fd) {
  SSL* ssl = SSL_new(client_context());
  if (!ssl || SSL_set_fd(ssl, fd) != 1) die("SSL_new: %s", ssl_reason());
  SSL_set_tlsext_host_name(ssl, "localhost");
  return ssl;
}

bool tls_handshake_step(SSL* ssl, bool* want_write) {
  ERR_clear_error();
  int r = SSL_connect(ssl);
  if (r == 1) return true;
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    *want_write = e == SSL_ERROR_WANT_WRITE;
    return false;
  }
  if (e == SSL_ERROR_SYSCALL)
    die("TLS handshake: %s", errno ? std::strerror(errno) : "the server closed the connection");
  die("TLS handshake: %s", ssl_reason());
}

ssize_t tls_recv(SSL* ssl, void* buf, size_t len) {
  ERR_clear_error();
  int n = SSL_read(ssl, buf, static_cast<int>(len));
  return n > 0 ? n : would_block_or_die(ssl, n, "TLS read");
}

ssize_t tls_send(SSL* ssl, const void* buf, size_t len) {
  ERR_clear_error();
  int n = SSL_write(ssl, buf, static_cast<int>(len));
  if (n > 0) return n;
  if (would_block_or_die(ssl, n, "TLS write") == 0) die("TLS write: the server closed");
  return -1;
}

std::string tls_describe(SSL* ssl) {
  std::string s = std::string("tls=") + SSL_get_version(ssl) + " cipher=" + SSL_get_cipher(ssl);
  const char* group = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl));
  s += std::string(" group=") + (group ? group : "unknown");
  X509* cert = SSL_get0_peer_certificate(ssl);
  EVP_PKEY* key = cert ? X509_get0_pubkey(cert) : nullptr;
  if (key) {
    int id = EVP_PKEY_get_base_id(key);
    s += std::string(" cert=") +
         (id == EVP_PKEY_EC    ? "EC"
          : id == EVP_PKEY_RSA ? "RSA"
                               : "other") +
         "-" + std::to_string(EVP_PKEY_get_bits(key));
  }
  int hash = NID_undef;
  if (SSL_get_peer_signature_nid(ssl, &hash) == 1) s += std::string("/") + OBJ_nid2sn(hash);
  return s;
}

// ---- the handshakes mode ----

namespace {

struct Shakes;

// One client: connects, shakes hands, sends close_notify and waits for the server to close,
// then starts over. Waiting for the server's close proves it read our Finished (it comes
// first), and lets the server's side hold the TIME_WAIT instead of our ephemeral ports.
struct Shaker {
  Shakes* b = nullptr;
  int fd = -1;
  SSL* ssl = nullptr;
  event* ev = nullptr;
  enum { kConnecting, kHandshake, kClosing } state = kConnecting;
};

struct Shakes {
  Options o;
  event_base* base = nullptr;
  std::vector<Shaker> shakers;
  uint64_t done = 0, done0 = 0, reused = 0, reused0 = 0, tickets0 = 0;
  double t0 = 0, cpu0 = 0;
  int phase = 0;  // 1 warm-up, 2 measuring
  event* timer = nullptr;
  std::string info;  // tls_describe of the first handshake
};

void on_shaker(evutil_socket_t, short, void* arg);

// Waits for fd to be readable or writable, then goes on in on_shaker.
void wait_for(Shaker* s, bool write) {
  event_del(s->ev);
  event_assign(s->ev, s->b->base, s->fd, write ? EV_WRITE : EV_READ, on_shaker, s);
  event_add(s->ev, nullptr);
}

// Starts the next connection of this client.
void start(Shaker* s) {
  s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (s->fd < 0) die("socket: %s", std::strerror(errno));
  int one = 1;
  setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(s->b->o.port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s->fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) < 0 && errno != EINPROGRESS)
    die("connect to 127.0.0.1:%d: %s", s->b->o.port, std::strerror(errno));
  s->state = Shaker::kConnecting;
  wait_for(s, true);
}

// Counts a finished connection and starts the next one.
void finish(Shaker* s) {
  event_del(s->ev);
  if (SSL_session_reused(s->ssl)) s->b->reused++;
  SSL_free(s->ssl);
  s->ssl = nullptr;
  close(s->fd);
  s->b->done++;
  start(s);
}

// Advances the client's connection as far as the socket lets it.
void on_shaker(evutil_socket_t fd, short, void* arg) {
  Shaker* s = static_cast<Shaker*>(arg);
  Shakes* b = s->b;
  if (s->state == Shaker::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) die("connect to 127.0.0.1:%d: %s", b->o.port, std::strerror(err));
    s->ssl = tls_new_session(fd);
    if (b->o.resume && latest_session) {
      // A copy for this connection alone, for the same reason as in keep_session.
      SSL_SESSION* copy = SSL_SESSION_dup(latest_session);
      if (!copy || SSL_set_session(s->ssl, copy) != 1) die("SSL_set_session: %s", ssl_reason());
      SSL_SESSION_free(copy);
    }
    s->state = Shaker::kHandshake;
  }
  if (s->state == Shaker::kHandshake) {
    bool want_write = false;
    if (!tls_handshake_step(s->ssl, &want_write)) return wait_for(s, want_write);
    if (b->info.empty()) b->info = tls_describe(s->ssl);
    SSL_shutdown(s->ssl);  // our close_notify; the answer is the server closing
    s->state = Shaker::kClosing;
  }
  char buf[4096];
  ssize_t n;
  while ((n = tls_recv(s->ssl, buf, sizeof buf)) > 0) {
  }
  if (n == 0) return finish(s);
  wait_for(s, false);
}

// Moves from warm-up to measuring, and from measuring to the report.
void on_phase(evutil_socket_t, short, void* arg) {
  Shakes* b = static_cast<Shakes*>(arg);
  if (b->phase == 1) {
    b->phase = 2;
    b->done0 = b->done;
    b->reused0 = b->reused;
    b->tickets0 = tickets;
    b->t0 = now();
    if (b->o.pid) b->cpu0 = proc_cpu(b->o.pid);
    arm_timer(b->timer, b->o.seconds);
    return;
  }
  double cpu = b->o.pid ? proc_cpu(b->o.pid) - b->cpu0 : 0;
  double secs = now() - b->t0;
  uint64_t n = b->done - b->done0;
  std::printf(
      "handshakes=%llu resumed=%llu tickets=%llu seconds=%.3f handshakes_per_s=%.0f cpu_s=%.2f "
      "cpu_us_per_handshake=%.1f %s\n",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(b->reused - b->reused0),
      static_cast<unsigned long long>(tickets - b->tickets0), secs, n / secs, cpu,
      n ? cpu * 1e6 / n : 0.0, b->info.c_str());
  event_base_loopbreak(b->base);
}

}  // namespace

int run_handshakes(const Options& o, event_base* base) {
  Shakes* b = new Shakes;
  b->o = o;
  b->base = base;
  b->shakers.resize(static_cast<size_t>(o.conns));
  b->timer = evtimer_new(base, on_phase, b);
  b->phase = 1;
  arm_timer(b->timer, o.warmup);
  for (Shaker& s : b->shakers) {
    s.b = b;
    s.ev = event_new(base, -1, 0, on_shaker, &s);
    start(&s);
  }
  event_base_dispatch(base);
  std::fflush(stdout);
  return 0;
}
