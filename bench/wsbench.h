// wsbench's pieces shared between its plain clients (wsbench.cc) and its TLS client
// (wsbench_tls.cc): the options, dying, clocks and the /proc readings of the measured process.
#pragma once

#include <sys/types.h>

#include <string>

struct event_base;

struct Options {
  std::string mode;
  int port = 0;
  std::string path = "/";
  int conns = 1;
  size_t size = 64;
  double warmup = 1;
  double seconds = 5;
  pid_t pid = 0;
  std::string protocol;    // -S: the subprotocol to offer, if any
  bool idle_echo = false;  // idle -s: one round trip per connection before the RSS is read
  bool tls = false;        // -T: wss:// instead of ws://
  bool resume = false;     // handshakes -R: resume the previous session instead of a full one
};

// Prints a message to stderr and exits with status 1.
[[noreturn]] void die(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Seconds on the monotonic clock.
double now();
// utime + stime of process PID in seconds, from /proc/PID/stat.
double proc_cpu(pid_t pid);
// VmRSS of process PID in KiB, from /proc/PID/status.
long proc_rss_kib(pid_t pid);
// Arms a one-shot timer event for `secs` seconds.
void arm_timer(struct event* timer, double secs);
// The handshakes mode: C clients open a TLS connection, complete a handshake and close, again
// and again; prints the rate and PID's CPU time per handshake over the measured window.
int run_handshakes(const Options& o, event_base* base);

// ---- the TLS client (wsbench_tls.cc) ----

typedef struct ssl_st SSL;

// A client session on the connected socket fd: TLS 1.3 only, X25519 only, SNI localhost,
// ALPN http/1.1, no certificate verification (a throwaway bench PKI; the figure is the
// server's cost).
SSL* tls_new_session(int fd);
// One step of the client handshake: true once done; false to wait for the socket to be
// readable or, with *want_write, writable. Dies on failure.
bool tls_handshake_step(SSL* ssl, bool* want_write);
// Like recv(2) and send(2) on the TLS session: bytes moved, 0 at EOF (recv), or -1 with errno
// EAGAIN when the socket would block.
ssize_t tls_recv(SSL* ssl, void* buf, size_t len);
ssize_t tls_send(SSL* ssl, const void* buf, size_t len);
// What the finished handshake negotiated, as KEY=VALUE pairs: version, cipher suite, key
// exchange group, the server's key and its signature scheme.
std::string tls_describe(SSL* ssl);
