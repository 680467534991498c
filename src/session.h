// One client connection: its two transports, states, deadlines and close record. The opening
// handshake is in session_open.cc, the open session's data in session_relay.cc.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "access_log.h"
#include "client_limits.h"
#include "deadlines.h"
#include "pipeline.h"
#include "transport.h"

struct event;
struct RouteCounters;
class Route;
class SessionHost;
struct Runtime;
struct Request;
struct Upgrade;

class Session : public TransportHandler, public PipelineEvents {
 public:
  // Takes over the accepted client's transport.
  Session(SessionHost& host, std::shared_ptr<const Runtime> rt, std::unique_ptr<Transport> client,
          bool over_limit);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  static constexpr size_t kInHigh = 256 * 1024;  // most read from one socket before it is processed

  // Server shutdown: open sessions get close 1001, the rest are dropped.
  void shutdown();

  // Links in the worker's list of live sessions.
  Session* prev = nullptr;
  Session* next = nullptr;
  // What the session serves with: the worker's current Runtime, or an older one after a reload.
  const Runtime* runtime() const { return rt_.get(); }

  // TransportHandler: what the client's and the backend's sockets report.
  void on_readable(Transport& t) override;
  void on_drained(Transport& t) override;
  void on_event(Transport& t, TransportEvent ev) override;

  // PipelineEvents: closes, keepalive pongs and backpressure, as the pipeline reports them.
  void on_peer_close(Side from, uint16_t code, std::string_view reason, bool answered) override;
  void on_keepalive_pong() override;
  bool full(Side to) const override;

 private:
  static constexpr uint64_t kCloseWaitMs = 5000;  // for the other side's close, or the client's EOF
  static constexpr int kFlushTimeoutSec = 30;  // a peer that takes nothing for this long is dropped

  // True while a side's output is too full to take more (backpressure).
  static bool backed_up(const std::unique_ptr<Transport>& t) { return t && t->congested(); }

  enum class State {
    kHandshake,         // reading the client's upgrade request
    kConnecting,        // request accepted; the backend connect decides between 101 and 502/504
    kBackendHandshake,  // ws:// routes: the backend's answer decides between 101 and its refusal
    kErrorBody,         // ws:// routes: relaying the backend's refusal to the client
    kOpen,              // relaying in both directions
    kClosing,  // a close frame or HTTP error went out: flushing, half-closing, awaiting EOF
  };

  void client_readable();
  void client_event(TransportEvent ev);
  void backend_readable();
  void backend_event(TransportEvent ev);

  void read_handshake();
  void accept_request(evbuffer* in, size_t head_len);
  void write_upgrade(const Request& req, const Upgrade& up);
  void read_backend_answer();
  void pipe_error_body();
  void reject(int status, const char* why);
  void open();
  void process_client();
  void process_backend(bool eof);
  Pipeline::Io io() const;
  bool after_pipeline(const Failure& f);
  void fail(const Failure& f);
  void send_close(uint16_t code, std::string_view reason, Closer by = Closer::kGateway);
  void close_both(uint16_t to_client, uint16_t to_backend, const char* why);
  void send_backend_close(uint16_t code, const char* why);
  void client_gone(const char* why);
  void backend_gone(TransportEvent ev);
  void close_backend();
  void close_client();
  void free_client();
  void free_backend();
  static void on_deadline(void* ctx, Deadlines::Kind k);
  void wait_for_close();
  void check_idle();
  // frame_timeout (session_frame.cc): after each read of the client's, and when it is due.
  void watch_frame();
  void check_frame();
  void check_ping();
  void send_ping();
  void touch();
  void maybe_done();
  void write_access_log();
  // The metrics' share (session_metrics.cc): at the handshake's answer, at closes and at the end.
  void count_status(int status);
  void count_open();
  void count_close(Side from, uint16_t code, bool answered);
  void count_end();

  // Why the session ended, for the access log: the first code noted wins.
  struct CloseRecord {
    uint16_t code = 0;
    std::string reason;
    Closer by = Closer::kNone;
    void note(uint16_t c, std::string_view r, Closer who) {
      if (code) return;
      code = c;
      reason.assign(r.data(), r.size());
      by = who;
    }
  };

  // What the opening handshake needs until the 101 (or the backend's refusal) has gone out;
  // freed then, so that an open session carries none of it.
  struct Opening {
    bool hybi00 = false;
    Framing framing = Framing::kBinary;  // bridged routes: what the client's messages carry
    uint8_t challenge[16];               // hybi-00's 101
    std::string origin;                  // hybi-00's 101
    std::string location;                // hybi-00's 101
    std::string accept;                  // RFC 6455's Sec-WebSocket-Accept
    std::string protocol;                // the subprotocol for the 101
    std::vector<std::string> offered;    // ws:// routes: subprotocols offered to the backend
    std::string client_key;
    std::string extensions;      // agreed with the backend and relayed to the client
    std::string backend_fields;  // other fields of the backend's 101, for the client
    bool deflate_offered = false;
    uint64_t body_left = 0;     // of the backend's refusal
    size_t answer_scanned = 0;  // find_request_head's progress in the backend's answer
    int interim = 0;            // 1xx answers skipped before the final one
  };

  SessionHost& host_;
  std::shared_ptr<const Runtime> rt_;  // keeps the routes this session started with alive
  const Route* route_ = nullptr;
  State state_ = State::kHandshake;
  std::unique_ptr<Transport> client_;
  std::unique_ptr<Transport> backend_;
  std::string peer_;  // the client's address, kept for the logs after its transport is gone
  std::unique_ptr<ConnInfo> client_info_;  // the client's, once its transport is gone
  Deadlines deadlines_;
  std::unique_ptr<Pipeline> pipeline_;  // from open() on
  std::unique_ptr<Opening> opening_;
  bool over_limit_;
  bool client_closing_ = false;   // freeing the client once its output drains
  bool backend_closing_ = false;  // same for the backend
  bool client_eof_ = false;       // the client's FIN came in
  bool ping_outstanding_ = false;
  bool ping_due_ = false;  // at the next boundary of the relayed stream
  int status_ = 0;
  CloseRecord close_;
  std::string path_;        // path and query as requested, for the logs
  std::string origin_;      // as the client sent it, for the access log
  std::string protocol_;    // agreed at the 101, for the access log
  std::string extensions_;  // agreed at the 101, for the access log
  bool client_close_seen_ = false;
  bool backend_close_seen_ = false;
  bool close_now_ = false;  // the close handshake is over: close both sides after the pipeline
  timeval start_;
  uint64_t last_activity_ms_ = 0;  // on deadlines_' clock
  uint64_t frame_since_ms_ = 0;    // when the client's frame under way began; 0: none
  size_t head_scanned_ = 0;        // find_request_head's progress in the client's request
  uint64_t bytes_in_ = 0;          // the client's, kept when its transport is freed
  uint64_t bytes_out_ = 0;
  uint64_t bytes_out_at_ping_ = 0;
  uint64_t ping_end_ = 0;                    // bytes_written() once the ping itself is out
  RouteCounters* route_counters_ = nullptr;  // the route's, from the 101 on; null in unit tests
  uint64_t connect_start_us_ = 0;            // when the backend connect began (monotonic_us)
  ClientVerdict per_ip_;    // max_connections_per_ip and handshake_rate_per_ip's answer
  ClientSlot client_slot_;  // released when the session is freed, on every path
};
