// A Transport moves the bytes of one socket: it reads into input(), writes output(), and tells
// its owner what happened. Nothing above it touches a file descriptor, so TLS (or a fake in unit
// tests) slots in under the same owner.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

struct evbuffer;

// A client certificate that verified against tls_client_ca.
struct ClientCert {
  std::string subject;   // RFC 2253 distinguished name
  std::string sha256;    // of the DER certificate, lower-case hex
  std::string cn;        // the subject's (last) commonName, UTF-8; empty without one
  bool resumed = false;  // came with a resumed session, not presented on this connection
};

// Why a client's TLS handshake failed, in a few kinds that a metric can count.
enum class TlsFailure : uint8_t {
  kNone,
  kPlainHttp,       // an HTTP request on the TLS port
  kNotTls,          // something else that is not a client hello
  kNoSharedCipher,  // no cipher suite in common
  kVersion,         // no TLS version in common
  kNoClientCert,    // tls_verify_client = require, and none came
  kCertificate,     // a certificate did not verify, or the peer refused ours
  kConnection,      // the socket failed during the handshake
  kOther,
  kCount
};

// Who is on the other end, for logs, forwarded headers and the access log.
struct ConnInfo {
  std::string peer;               // "192.0.2.1:5000" or "[2001:db8::1]:5000"
  std::string peer_ip;            // without the port
  sockaddr_storage peer_addr{};   // the same, binary: for per-client limits
  sockaddr_storage local_addr{};  // the address the peer connected to, for PROXY headers sent
                                  // on; AF_UNSPEC until Transport::learn_local_address()
  bool tls = false;
  std::string tls_version;
  std::string sni;
  std::unique_ptr<ClientCert> client_cert;  // null without one
  TlsFailure tls_failure = TlsFailure::kNone;
};

enum class TransportEvent {
  kConnected,  // an outgoing connect completed
  kEof,        // the peer's FIN: reading stopped, writing may go on
  kError,      // the socket failed; error() says why
  kTimeout,    // the output did not drain within the write timeout
  kShutdown,   // after shutdown_write(): all output went out and our FIN is sent
};

class Transport;

// The owner's side. A transport calls it from its own event callbacks only, never from inside
// a call the owner made, so the owner may free the transport in any of these.
class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  // input() has new bytes.
  virtual void on_readable(Transport& t) = 0;
  // The output was over kOutHigh and has drained to kOutLow: paused readers may resume.
  virtual void on_drained(Transport& t) = 0;
  virtual void on_event(Transport& t, TransportEvent ev) = 0;
};

class Transport {
 public:
  // le-proxy style backpressure: a source pauses while its sink's output is over kOutHigh, and
  // resumes once that output drains to kOutLow.
  static constexpr size_t kOutHigh = 256 * 1024;
  static constexpr size_t kOutLow = kOutHigh / 2;

  virtual ~Transport() = default;
  void set_handler(TransportHandler* h) { handler_ = h; }
  virtual evbuffer* input() = 0;
  virtual evbuffer* output() = 0;
  // Writes the output at once when the socket was idle; what the kernel refuses goes out when
  // it becomes writable. Also resumes reading once the owner has made room in the input.
  virtual void flush() = 0;
  // Backpressure from the owner: stop or resume reading.
  virtual void set_reading(bool on) = 0;
  // Reading pauses by itself while the input holds this many bytes.
  virtual void set_read_limit(size_t bytes) = 0;
  // Once the output is flushed, half-closes and reports kShutdown; kTimeout if the peer takes
  // nothing for timeout_sec. Reading stops.
  virtual void shutdown_write(int timeout_sec) = 0;
  // Why the last kError happened, for logs.
  virtual std::string error() const = 0;
  // Bytes to go out raw before anything else, TLS included (a PROXY header); for an outgoing
  // connection, set before the event loop runs again. By default they lead the output.
  virtual void set_preamble(const void* data, size_t len);

  // True while the output holds more than the peer should be sent ahead.
  virtual bool congested() const;
  // Empty for an outgoing connection.
  const ConnInfo& info() const;
  // Hands the ConnInfo over to outlive the transport; info() is empty after.
  std::unique_ptr<ConnInfo> take_info() { return std::move(info_); }
  // An accepted socket's addresses as a PROXY header gave them, before anyone reads info().
  void set_addresses(const sockaddr* peer, const sockaddr* local);
  // Fills info().local_addr from the socket if nothing set it yet; only its few users pay
  // the getsockname(2).
  virtual void learn_local_address() {}
  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t bytes_written() const { return bytes_written_; }

 protected:
  TransportHandler* handler_ = nullptr;
  // Only accepted sockets have one: a backend connection does not pay for it.
  std::unique_ptr<ConnInfo> info_;
  uint64_t bytes_read_ = 0;
  uint64_t bytes_written_ = 0;
};

// The ConnInfo of an accepted socket: the peer's address.
std::unique_ptr<ConnInfo> accepted_conn_info(const struct sockaddr* peer);
// Sets a ConnInfo's addresses (a PROXY header replaces the socket's).
void set_conn_addresses(ConnInfo& info, const struct sockaddr* peer, const struct sockaddr* local);

// "host:port" or "[v6]:port" for a socket address, and the bare host into `ip` if wanted.
std::string format_address(const struct sockaddr* addr, std::string* ip);
