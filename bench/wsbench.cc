// wsbench: the load generator behind `make bench` (bench/run drives it).
//
//   wsbench echo -p PORT
//       a TCP echo server on 127.0.0.1:PORT, the backend of the WS->TCP scenarios
//   wsbench load -p PORT -u PATH -c CONNS -s SIZE [-w WARMUP] [-t SECONDS] [-P PID] [-S PROTO]
//       CONNS RFC 6455 clients, each with one binary message of SIZE bytes in flight; after
//       WARMUP seconds, counts round trips for SECONDS and the CPU time PID used meanwhile
//   wsbench idle -p PORT -u PATH -c CONNS -P PID [-s SIZE] [-S PROTO]
//       opens CONNS handshaken connections and prints PID's VmRSS before and after; with -s,
//       each connection first echoes one message of SIZE bytes, so that buffers a proxy keeps
//       after traffic count too
//   wsbench handshakes -p PORT -c CONNS [-w WARMUP] [-t SECONDS] [-P PID] [-R]
//       CONNS TLS clients, each opening a connection, completing a full TLS handshake and
//       closing (close_notify, then the server's close), again and again; counts handshakes
//       for SECONDS after WARMUP and the CPU time PID used meanwhile. With -R, each connection
//       resumes the newest session a server ticket gave instead (TLS 1.3 PSK with X25519)
//
// -S offers the subprotocol PROTO (lighttpd's mod_wstunnel answers "binary" whether offered or
// not); a server that picks a subprotocol that was not offered fails the handshake.
// -T makes load and idle speak wss:// (TLS 1.3, X25519, no certificate verification; see
// wsbench_tls.cc); their result line then says what the handshake negotiated.
//
// Results go to stdout as one line of KEY=VALUE pairs.
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "wsbench.h"

namespace {

// At most this many connections are being set up at once, so that 2,000 do not flood the
// listen backlog.
constexpr int kMaxPending = 64;

}  // namespace

void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fputs("wsbench: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
  std::exit(1);
}

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

double proc_cpu(pid_t pid) {
  char path[64], buf[1024];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (!f) die("%s: %s", path, std::strerror(errno));
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  unsigned long utime = 0, stime = 0;
  if (!p || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                        &stime) != 2)
    die("%s: cannot parse", path);
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

long proc_rss_kib(pid_t pid) {
  char path[64], line[256];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (!f) die("%s: %s", path, std::strerror(errno));
  long kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %ld", &kib) == 1) break;
  std::fclose(f);
  if (kib < 0) die("%s: no VmRSS", path);
  return kib;
}

void arm_timer(event* timer, double secs) {
  timeval tv{static_cast<time_t>(secs),
             static_cast<suseconds_t>((secs - static_cast<long>(secs)) * 1e6)};
  evtimer_add(timer, &tv);
}

namespace {

// ---- TCP echo server ----

// Sends back whatever arrived.
void echo_read(bufferevent* bev, void*) {
  bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

// Frees the connection on EOF or error.
void echo_event(bufferevent* bev, short, void*) {
  bufferevent_free(bev);
}

// Sets up a bufferevent for each accepted connection.
void echo_accept(evconnlistener* lis, evutil_socket_t fd, sockaddr*, int, void*) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bufferevent* bev =
      bufferevent_socket_new(evconnlistener_get_base(lis), fd, BEV_OPT_CLOSE_ON_FREE);
  bufferevent_setcb(bev, echo_read, nullptr, echo_event, nullptr);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
}

// Runs the TCP echo server until killed.
int run_echo(const Options& o, event_base* base) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(o.port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  evconnlistener* lis =
      evconnlistener_new_bind(base, echo_accept, nullptr, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                              1024, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  if (!lis) die("listen on 127.0.0.1:%d: %s", o.port, std::strerror(errno));
  event_base_dispatch(base);
  evconnlistener_free(lis);
  return 0;
}

// ---- WebSocket clients ----

struct Bench;

// One client connection. Its frame buffer is built once and only re-masked per message.
struct Conn {
  Bench* b = nullptr;
  int fd = -1;
  event* rev = nullptr;
  event* wev = nullptr;
  SSL* ssl = nullptr;  // -T
  enum { kConnecting, kTls, kHandshake, kOpen } state = kConnecting;
  std::string response;        // the handshake response, until its blank line
  std::vector<uint8_t> frame;  // header, mask and masked payload of the message in flight
  size_t header_len = 0;       // bytes before the mask
  size_t sent = 0;             // bytes of frame written so far
  uint64_t got = 0;            // echoed payload bytes received for the message in flight
  uint8_t hdr[14];             // the server frame header being read
  size_t hdr_have = 0;
  uint64_t payload_left = 0;  // payload bytes of the current server frame still to come
};

struct Bench {
  Options o;
  event_base* base = nullptr;
  std::vector<Conn> conns;
  std::vector<uint8_t> payload;  // the plain message, the same every time
  uint8_t rbuf[65536];
  uint64_t rng = 0x9e3779b97f4a7c15ULL;
  int started = 0, open = 0, echoed = 0;
  uint64_t msgs = 0, msgs0 = 0;
  double t0 = 0, cpu0 = 0;
  long rss0 = 0;
  event* timer = nullptr;
  int phase = 0;  // load: 0 connecting, 1 warm-up, 2 measuring; idle: 0 connecting, 1 settling
  std::string tls_info;  // -T: what the first TLS handshake negotiated
};

// recv(2), or its TLS equivalent on a wss:// connection.
ssize_t conn_recv(Conn* c, void* buf, size_t len) {
  return c->ssl ? tls_recv(c->ssl, buf, len) : recv(c->fd, buf, len, 0);
}

// send(2), or its TLS equivalent on a wss:// connection.
ssize_t conn_send(Conn* c, const void* buf, size_t len) {
  return c->ssl ? tls_send(c->ssl, buf, len) : send(c->fd, buf, len, MSG_NOSIGNAL);
}

// A fresh 32-bit masking key (xorshift64).
uint32_t next_mask(Bench* b) {
  b->rng ^= b->rng << 13;
  b->rng ^= b->rng >> 7;
  b->rng ^= b->rng << 17;
  return static_cast<uint32_t>(b->rng >> 16);
}

void on_write(evutil_socket_t, short, void* arg);

// Writes what is left of the frame; waits for EV_WRITE if the socket is full.
void flush(Conn* c) {
  while (c->sent < c->frame.size()) {
    ssize_t n = conn_send(c, c->frame.data() + c->sent, c->frame.size() - c->sent);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        event_add(c->wev, nullptr);
        return;
      }
      die("send: %s", std::strerror(errno));
    }
    c->sent += static_cast<size_t>(n);
  }
}

// Masks the payload with a fresh key into the connection's frame buffer and sends it.
void send_message(Conn* c) {
  Bench* b = c->b;
  uint32_t key = next_mask(b);
  uint8_t* m = c->frame.data() + c->header_len;
  std::memcpy(m, &key, 4);
  uint8_t* out = m + 4;
  const uint8_t* in = b->payload.data();
  size_t n = b->payload.size(), i = 0;
  uint64_t key64 = (static_cast<uint64_t>(key) << 32) | key;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, in + i, 8);
    w ^= key64;
    std::memcpy(out + i, &w, 8);
  }
  for (; i < n; i++) out[i] = in[i] ^ m[i & 3];
  c->sent = 0;
  c->got = 0;
  flush(c);
}

void connect_more(Bench* b);
void all_open(Bench* b);
void settle(Bench* b);

// Reads the server's unmasked frames and counts their payload; a whole echo sends the next
// message (load) or, once every connection has had its echo, starts the settling (idle).
void feed_frames(Conn* c, const uint8_t* p, size_t n) {
  Bench* b = c->b;
  while (n > 0) {
    if (c->payload_left > 0) {
      size_t take = c->payload_left < n ? static_cast<size_t>(c->payload_left) : n;
      c->payload_left -= take;
      c->got += take;
      p += take;
      n -= take;
    } else {
      c->hdr[c->hdr_have++] = *p++;
      n--;
      if (c->hdr_have < 2) continue;
      uint8_t len7 = c->hdr[1] & 0x7f;
      size_t need = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
      if (c->hdr[1] & 0x80) die("the server sent a masked frame");
      if (c->hdr_have < need) continue;
      uint64_t len = len7;
      if (need > 2) {
        len = 0;
        for (size_t k = 2; k < need; k++) len = (len << 8) | c->hdr[k];
      }
      int opcode = c->hdr[0] & 0x0f;
      if (opcode == 8) die("the server closed a connection");
      if (opcode != 0 && opcode != 2) die("unexpected frame with opcode %d", opcode);
      c->hdr_have = 0;
      c->payload_left = len;
    }
    if (c->got == b->payload.size() && c->payload_left == 0 && c->hdr_have == 0) {
      b->msgs++;
      if (n > 0) die("the server sent more than it was sent");
      if (b->o.mode == "load") {
        send_message(c);
      } else if (++b->echoed == b->o.conns) {
        settle(b);
      }
    }
  }
}

// Dies unless the response's subprotocol, if any, is the one offered (RFC 6455 4.1).
void check_protocol(const Options& o, const std::string& response) {
  std::string lower = response;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const std::string key = "\r\nsec-websocket-protocol:";
  size_t at = lower.find(key);
  if (at == std::string::npos) return;
  size_t from = response.find_first_not_of(" \t", at + key.size());
  size_t to = response.find_last_not_of(" \t", response.find('\r', from) - 1);
  std::string got = from <= to ? response.substr(from, to - from + 1) : "";
  if (got != o.protocol)
    die("the server chose subprotocol \"%s\", offered \"%s\"", got.c_str(), o.protocol.c_str());
}

// Takes n bytes read into the read buffer: the handshake response while handshaking, frames
// once open.
void take(Conn* c, size_t n) {
  Bench* b = c->b;
  if (c->state == Conn::kOpen) {
    feed_frames(c, b->rbuf, n);
    return;
  }
  c->response.append(reinterpret_cast<char*>(b->rbuf), n);
  size_t end = c->response.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c->response.size() > 8192) die("handshake response too long");
    return;
  }
  if (c->response.compare(0, 13, "HTTP/1.1 101 ") != 0)
    die("handshake refused: %s", c->response.substr(0, c->response.find('\r')).c_str());
  if (end + 4 != c->response.size()) die("data before the first message");
  check_protocol(c->b->o, c->response);
  std::string().swap(c->response);
  c->state = Conn::kOpen;
  b->open++;
  if (b->open == b->o.conns) all_open(b);
  connect_more(b);
}

// Sends the upgrade request on a connected (and, with -T, TLS-handshaken) socket.
void send_upgrade(Conn* c) {
  std::string req =
      "GET " + c->b->o.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(c->b->o.port) +
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n" +
      (c->b->o.protocol.empty() ? std::string()
                                : "Sec-WebSocket-Protocol: " + c->b->o.protocol + "\r\n") +
      "\r\n";
  if (conn_send(c, req.data(), req.size()) != static_cast<ssize_t>(req.size()))
    die("send of the upgrade request failed");
  c->state = Conn::kHandshake;
}

// Advances the TLS handshake (-T) as far as the socket lets it; once done, upgrades.
void tls_step(Conn* c) {
  bool want_write = false;
  if (!tls_handshake_step(c->ssl, &want_write)) {
    if (want_write) event_add(c->wev, nullptr);
    return;
  }
  event_del(c->wev);  // a wait for writable from the handshake must not send a frame later
  if (c->b->tls_info.empty()) c->b->tls_info = tls_describe(c->ssl);
  send_upgrade(c);
}

// Readable: handshake response while handshaking, frames once open.
void on_read(evutil_socket_t, short, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  if (c->state == Conn::kTls) return tls_step(c);
  // TLS hands over at most one record per read and the socket may already be drained, so read
  // on until it would block.
  do {
    ssize_t n = conn_recv(c, c->b->rbuf, sizeof c->b->rbuf);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      die("recv: %s", std::strerror(errno));
    }
    if (n == 0) die("the server closed a connection");
    take(c, static_cast<size_t>(n));
  } while (c->ssl);
}

// Writable: the connect finished (start TLS or send the upgrade request), the TLS handshake
// can go on, or the frame can.
void on_write(evutil_socket_t fd, short, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  if (c->state == Conn::kOpen) return flush(c);
  if (c->state == Conn::kTls) return tls_step(c);
  if (c->state != Conn::kConnecting) return;
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) die("connect to 127.0.0.1:%d: %s", c->b->o.port, std::strerror(err));
  if (!c->b->o.tls) return send_upgrade(c);
  c->ssl = tls_new_session(fd);
  c->state = Conn::kTls;
  tls_step(c);
}

// Starts non-blocking connects until kMaxPending are in progress or all are started.
void connect_more(Bench* b) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(b->o.port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  while (b->started < b->o.conns && b->started - b->open < kMaxPending) {
    Conn* c = &b->conns[b->started++];
    c->b = b;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) die("socket: %s (raise ulimit -n)", std::strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) < 0 && errno != EINPROGRESS)
      die("connect: %s", std::strerror(errno));
    c->rev = event_new(b->base, c->fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(b->base, c->fd, EV_WRITE, on_write, c);
    event_add(c->rev, nullptr);
    event_add(c->wev, nullptr);
  }
}

// Moves to the next phase: warm-up, measuring, report (load); settling, report (idle).
void on_timer(evutil_socket_t, short, void* arg) {
  Bench* b = static_cast<Bench*>(arg);
  if (b->o.mode == "idle") {
    long rss1 = proc_rss_kib(b->o.pid);
    std::printf("conns=%d rss0_kib=%ld rss1_kib=%ld kib_per_conn=%.2f%s%s\n", b->o.conns, b->rss0,
                rss1, static_cast<double>(rss1 - b->rss0) / b->o.conns,
                b->tls_info.empty() ? "" : " ", b->tls_info.c_str());
    event_base_loopbreak(b->base);
  } else if (b->phase == 1) {
    b->phase = 2;
    b->msgs0 = b->msgs;
    b->t0 = now();
    if (b->o.pid) b->cpu0 = proc_cpu(b->o.pid);
    arm_timer(b->timer, b->o.seconds);
  } else {
    double cpu = b->o.pid ? proc_cpu(b->o.pid) - b->cpu0 : 0;
    double secs = now() - b->t0;
    uint64_t msgs = b->msgs - b->msgs0;
    std::printf("msgs=%llu seconds=%.3f msgs_per_s=%.0f cpu_s=%.2f cpu_us_per_msg=%.2f%s%s\n",
                static_cast<unsigned long long>(msgs), secs, msgs / secs, cpu,
                msgs ? cpu * 1e6 / msgs : 0.0, b->tls_info.empty() ? "" : " ", b->tls_info.c_str());
    event_base_loopbreak(b->base);
  }
}

// Arms the timer for the next phase in SECS seconds.
void phase_in(Bench* b, double secs) {
  b->phase = 1;
  arm_timer(b->timer, secs);
}

// Idle: every connection is open (and has echoed its message); let the proxy settle before
// reading its RSS.
void settle(Bench* b) {
  phase_in(b, 0.5);
}

// Every connection is open: start sending (load, idle -s) or go on to the RSS reading (idle).
void all_open(Bench* b) {
  if (b->o.mode == "load" || b->o.idle_echo)
    for (Conn& c : b->conns) send_message(&c);
  if (b->o.mode == "load")
    phase_in(b, b->o.warmup);
  else if (!b->o.idle_echo)
    settle(b);
}

// Runs the load or idle clients to the end of their measurement.
int run_clients(const Options& o, event_base* base) {
  Bench* b = new Bench;  // holds a 64 KiB read buffer: not on the stack
  b->o = o;
  b->base = base;
  b->rng ^=
      static_cast<uint64_t>(getpid()) * 0x2545f4914f6cdd1dULL ^ static_cast<uint64_t>(now() * 1e9);
  bool sends = o.mode == "load" || o.idle_echo;
  b->payload.resize(sends ? o.size : 0);
  for (size_t i = 0; i < b->payload.size(); i++) b->payload[i] = static_cast<uint8_t>(i * 131 + 7);
  b->conns.resize(static_cast<size_t>(o.conns));
  if (sends) {
    size_t hl = o.size < 126 ? 2 : o.size < 65536 ? 4 : 10;
    for (Conn& c : b->conns) {
      c.header_len = hl;
      c.frame.assign(hl + 4 + o.size, 0);
      c.frame[0] = 0x82;  // FIN, binary
      c.frame[1] = static_cast<uint8_t>(0x80 | (hl == 2 ? o.size : hl == 4 ? 126 : 127));
      for (size_t k = 2; k < hl; k++)
        c.frame[k] = static_cast<uint8_t>(o.size >> (8 * (hl - 1 - k)));
    }
  }
  if (o.mode == "idle") b->rss0 = proc_rss_kib(o.pid);
  b->timer = evtimer_new(base, on_timer, b);
  connect_more(b);
  event_base_dispatch(base);
  std::fflush(stdout);
  return 0;  // the sockets close with the process
}

// Prints the usage and exits with status 2.
[[noreturn]] void usage() {
  std::fputs(
      "usage: wsbench echo -p PORT\n"
      "       wsbench load -p PORT -u PATH -c CONNS -s SIZE [-w WARMUP] [-t SECONDS] [-P PID]\n"
      "                    [-S PROTO]\n"
      "       wsbench idle -p PORT -u PATH -c CONNS -P PID [-s SIZE] [-S PROTO]\n"
      "       wsbench handshakes -p PORT -c CONNS [-w WARMUP] [-t SECONDS] [-P PID] [-R]\n"
      "       -T: load and idle over TLS (wss://)\n",
      stderr);
  std::exit(2);
}

}  // namespace

// Parses the command line and runs the chosen mode.
int main(int argc, char** argv) {
  if (argc < 2) usage();
  Options o;
  o.mode = argv[1];
  if (o.mode != "echo" && o.mode != "load" && o.mode != "idle" && o.mode != "handshakes") usage();
  int opt;
  optind = 2;
  while ((opt = getopt(argc, argv, "p:u:c:s:w:t:P:S:TR")) != -1) {
    switch (opt) {
      case 'p':
        o.port = std::atoi(optarg);
        break;
      case 'u':
        o.path = optarg;
        break;
      case 'c':
        o.conns = std::atoi(optarg);
        break;
      case 's':
        o.size = std::strtoul(optarg, nullptr, 10);
        o.idle_echo = true;  // only idle mode looks at it
        break;
      case 'w':
        o.warmup = std::atof(optarg);
        break;
      case 't':
        o.seconds = std::atof(optarg);
        break;
      case 'P':
        o.pid = std::atoi(optarg);
        break;
      case 'S':
        o.protocol = optarg;
        break;
      case 'T':
        o.tls = true;
        break;
      case 'R':
        o.resume = true;
        break;
      default:
        usage();
    }
  }
  if (o.port <= 0 || o.conns <= 0 || ((o.mode == "load" || o.idle_echo) && o.size == 0) ||
      (o.mode == "idle" && o.pid <= 0))
    usage();
  std::signal(SIGPIPE, SIG_IGN);
  event_base* base = event_base_new();
  if (!base) die("event_base_new failed");
  if (o.mode == "echo") return run_echo(o, base);
  return o.mode == "handshakes" ? run_handshakes(o, base) : run_clients(o, base);
}
