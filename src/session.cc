#include "session.h"

#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <event2/buffer.h>
#include <event2/event.h>

#include "backend.h"
#include "buffer.h"
#include "chain.h"
#include "frame.h"
#include "handshake.h"
#include "http.h"
#include "hybi00.h"
#include "log.h"
#include "proxy.h"
#include "route.h"
#include "runtime.h"
#include "session_host.h"

namespace {

constexpr size_t kInHigh = 256 * 1024;   // most read from one socket before it is processed
constexpr uint64_t kCloseWaitMs = 5000;  // for the client's EOF after our final FIN
constexpr int kFlushTimeoutSec = 30;     // a peer that takes nothing for this long is dropped
constexpr char kPingPayload[] = "wsgate-keepalive";

uint64_t ms_between(const timeval& a, const timeval& b) {
  int64_t ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_usec - a.tv_usec) / 1000;
  return ms > 0 ? static_cast<uint64_t>(ms) : 0;
}

// True while a side's output is too full to take more (backpressure).
bool full(const std::unique_ptr<Transport>& t) {
  return t && t->congested();
}

size_t out_len(const std::unique_ptr<Transport>& t) {
  return t ? evbuffer_get_length(t->output()) : 0;
}

}  // namespace

Session::Session(SessionHost& host, std::shared_ptr<const Runtime> rt,
                 std::unique_ptr<Transport> client, bool over_limit)
    : host_(host),
      rt_(std::move(rt)),
      client_(std::move(client)),
      conn_(client_->info()),
      deadlines_(host.base(), on_deadline, this),
      over_limit_(over_limit) {
  event_base_gettimeofday_cached(host_.base(), &start_);
  client_->set_handler(this);
  // One byte over the cap is enough to tell a too-large request head (hybi-00's key3 follows).
  client_->set_read_limit(kMaxRequestHead + kHybi00Key3 + 1);
  deadlines_.set(Deadlines::kHandshake, rt_->config.limits.handshake_timeout_ms);
}

Session::~Session() {
  write_access_log();
  WorkerCounters& c = host_.counters();
  WorkerCounters::add(c.bytes_in, client_ ? client_->bytes_read() : bytes_in_);
  WorkerCounters::add(c.bytes_out, client_ ? client_->bytes_written() : bytes_out_);
  WorkerCounters::add(c.messages_in, up_ ? up_->messages() : msgs_in_);
  WorkerCounters::add(c.messages_out, down_ ? down_->messages() : msgs_out_);
  free_client();
  free_backend();
  if (scratch_) evbuffer_free(scratch_);
}

void Session::shutdown() {
  switch (state_) {
    case State::kHandshake:
    case State::kConnecting:
      reject(http_status::kUnavailable, "server is shutting down");
      break;
    case State::kOpen:
      close_both(close_code::kGoingAway, close_code::kGoingAway, "server shutting down");
      break;
    case State::kBackendHandshake:
      reject(http_status::kUnavailable, "server is shutting down");
      break;
    case State::kErrorBody:
    case State::kClosing:
      break;
  }
  maybe_done();
}

// ---- handshake ----

void Session::read_handshake() {
  evbuffer* in = client_->input();
  long head = find_request_head(in);
  if (head == 0) return;
  if (head < 0) {
    reject(http_status::kHeadersTooLarge, "request line and headers exceed 8 KiB");
    return;
  }
  accept_request(in, static_cast<size_t>(head));
}

// Validates the request and either answers an error or moves on to the backend.
void Session::accept_request(evbuffer* in, size_t head_len) {
  const char* raw = reinterpret_cast<const char*>(evbuffer_pullup(in, head_len));
  Request req;
  Upgrade up;
  Hybi00Upgrade legacy;
  bool hybi00 = false;
  const char* why = "";
  int status = parse_request(std::string_view(raw, head_len), req, &why);
  if (status == 0) path_.assign(req.path.data(), req.path.size());
  if (status == 0 && req.method != "GET") {
    status = http_status::kMethodNotAllowed;
    why = "only GET can upgrade to WebSocket";
  }
  if (status == 0 && over_limit_) {
    status = http_status::kUnavailable;
    why = "max_connections reached; try again later";
  }
  if (status == 0 && !(route_ = rt_->router.match(req.path))) {
    status = http_status::kNotFound;
    why = "no route for this path";
  }
  if (status == 0) {
    hybi00 = is_hybi00(req);
    status = hybi00 ? check_hybi00(req, legacy, &why) : check_upgrade(req, up, &why);
    if (hybi00) {
      up.origin = legacy.origin;
      up.protocols = std::move(legacy.protocols);
    }
  }
  if (status == 0 && !route_->origin_allowed(up.origin)) {
    status = http_status::kForbidden;
    why = "origin not allowed";
  }
  if (status != 0) {
    reject(status, why);
    return;
  }
  size_t consumed = head_len;
  if (hybi00) {
    // key3 follows the head, in this read or a later one; until then there is nothing to do.
    uint8_t key3[kHybi00Key3];
    evbuffer_ptr at;
    evbuffer_ptr_set(in, &at, head_len, EVBUFFER_PTR_SET);
    if (evbuffer_copyout_from(in, &at, key3, sizeof key3) < static_cast<ev_ssize_t>(sizeof key3))
      return;
    consumed += kHybi00Key3;
    hybi00_ = std::make_unique<Hybi00Reply>();
    hybi00_challenge(legacy.n1, legacy.n2, key3, hybi00_->challenge);
    hybi00_->origin.assign(up.origin.data(), up.origin.size());
    hybi00_->location = hybi00_location(req, false);
  } else {
    accept_ = websocket_accept(up.key);
  }
  protocol_ = std::string(route_->select_protocol(up.protocols, hybi00));
  codec_ = route_->chain().make_codec(hybi00);
  framing_ = route_->chain().framing(hybi00, protocol_);
  chain_ = route_->chain().make_chain(framing_);
  const BackendAddr& target = route_->config().backend;
  if (target.kind == BackendAddr::Kind::kEcho) {
    evbuffer_drain(in, consumed);  // bytes pipelined after the head stay for the codec
    open();
    return;
  }
  state_ = State::kConnecting;
  std::string err;
  backend_ = host_.connect_backend(target, route_->backend_tls(), route_->config().tls_verify, err);
  if (!backend_) {
    reject(http_status::kBadGateway, err.c_str());
    return;
  }
  backend_->set_handler(this);
  if (target.websocket()) write_upgrade(req, up);
  evbuffer_drain(in, consumed);  // the request's views end here
  // The route's handshake_timeout bounds the whole opening handshake, the backend's included.
  deadlines_.set_at(Deadlines::kHandshake, static_cast<uint64_t>(start_.tv_sec) * 1000 +
                                               start_.tv_usec / 1000 +
                                               route_->limits().handshake_timeout_ms);
  deadlines_.set(Deadlines::kConnect, route_->limits().connect_timeout_ms);
}

// Queues the upgrade request for a ws:// backend; it goes out once the connect completes.
void Session::write_upgrade(const Request& req, const Upgrade& up) {
  std::string offer;
  if (route_->config().protocols.empty()) {
    // No list of our own: the backend chooses from the client's whole offer.
    for (std::string_view p : up.protocols) {
      offered_.emplace_back(p);
      offer += (offer.empty() ? "" : ", ") + offered_.back();
    }
  } else if (!protocol_.empty()) {
    offered_.push_back(protocol_);
    offer = protocol_;
  }
  protocol_.clear();  // the backend's answer decides
  // A hybi-00 client has no key of its own: wsgate is the backend's RFC 6455 client.
  client_key_ = hybi00_ ? new_websocket_key() : std::string(up.key);
  deflate_offered_ = !hybi00_ && !deflate_offers(req).empty();
  write_backend_request(backend_->output(), req, route_->config().backend, client_key_, offer,
                        ClientInfo{conn_.peer_ip.c_str(), false}, route_->config().forwarded);
}

// The backend's answer to the upgrade: a valid 101 opens the session, anything else goes back
// to the client as it came.
void Session::read_backend_answer() {
  evbuffer* in = backend_->input();
  long head = find_request_head(in);
  if (head == 0) return;
  if (head < 0) {
    reject(http_status::kBadGateway, "backend's response head exceeds 8 KiB");
    return;
  }
  const char* raw = reinterpret_cast<const char*>(evbuffer_pullup(in, head));
  Response resp;
  const char* why = "";
  if (!parse_response(std::string_view(raw, head), resp, &why)) {
    reject(http_status::kBadGateway, (std::string("backend sent a bad response: ") + why).c_str());
    return;
  }
  if (resp.status == http_status::kSwitching) {
    Switched sw;
    std::vector<std::string_view> offered(offered_.begin(), offered_.end());
    if (!check_switching(resp, client_key_, offered, deflate_offered_, sw, &why)) {
      reject(http_status::kBadGateway, why);
      return;
    }
    protocol_.assign(sw.protocol.data(), sw.protocol.size());
    extensions_.assign(sw.extensions.data(), sw.extensions.size());
    // Set-Cookie and other end-to-end fields of the 101 go on to the client.
    evbuffer* fields = evbuffer_new();
    write_relayed_fields(fields, resp, true);
    backend_fields_.resize(evbuffer_get_length(fields));
    evbuffer_remove(fields, backend_fields_.data(), backend_fields_.size());
    evbuffer_free(fields);
    evbuffer_drain(in, head);
    open();
    return;
  }
  // Relay the refusal (401, 403, 404, 500 ...) with its body, then close.
  status_ = resp.status;
  WorkerCounters::add(host_.counters().backend_failures);
  log_info("%s \"%s\": backend %s answered %d", conn_.peer.c_str(), path_.c_str(),
           route_->config().backend.text.c_str(), resp.status);
  evbuffer* out = client_->output();
  evbuffer_add_printf(out, "HTTP/1.1 %d %.*s\r\n", resp.status,
                      static_cast<int>(resp.reason.size()), resp.reason.data());
  body_left_ = UINT64_MAX;
  if (const HeaderField* len = find_header(resp.headers, "Content-Length")) {
    std::string digits(len->value);
    char* end = nullptr;
    unsigned long long n = strtoull(digits.c_str(), &end, 10);
    if (!digits.empty() && *end == '\0' && isdigit(static_cast<unsigned char>(digits[0])))
      body_left_ = n;
  }
  write_relayed_fields(out, resp, false);
  evbuffer_add(out, "Connection: close\r\n\r\n", 21);
  evbuffer_drain(in, head);
  state_ = State::kErrorBody;
  pipe_error_body();
}

// Moves the refusal's body to the client; done at Content-Length or the backend's EOF.
void Session::pipe_error_body() {
  evbuffer* in = backend_->input();
  size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, evbuffer_get_length(in)));
  move_bytes(in, client_->output(), n);
  body_left_ -= n;
  if (body_left_ == 0) {
    free_backend();
    close_client();
  } else if (full(client_)) {
    backend_->set_reading(false);
  }
}

// Answers an HTTP error and closes once it is flushed.
void Session::reject(int status, const char* why) {
  status_ = status;
  WorkerCounters::add(host_.counters().rejected);
  if (status == http_status::kBadGateway || status == http_status::kGatewayTimeout)
    WorkerCounters::add(host_.counters().backend_failures);
  log_info("%s \"%s\": %d %s: %s", conn_.peer.c_str(), path_.c_str(), status, http_reason(status),
           why);
  free_backend();
  state_ = State::kClosing;
  http_write_error(client_->output(), status, why);
  close_client();
}

// The backend accepted the connection: only now does the client get its 101.
void Session::open() {
  state_ = State::kOpen;
  status_ = http_status::kSwitching;
  WorkerCounters::add(host_.counters().upgraded);
  uint64_t max = route_->limits().max_message_size;
  bool hybi00 = hybi00_ != nullptr;
  if (hybi00) {
    write_hybi00_switching(client_->output(), hybi00_->origin, hybi00_->location, protocol_,
                           hybi00_->challenge, backend_fields_);
    hybi00_.reset();
  } else {
    write_switching(client_->output(), accept_, protocol_, extensions_, backend_fields_);
  }
  backend_fields_.clear();
  accept_.clear();
  if (route_->config().backend.websocket() && hybi00) {
    // A hybi-00 client: its text is transcoded to RFC 6455 frames, and back.
    backend_codec_ = std::make_unique<Rfc6455Codec>(max, Rfc6455Codec::Role::kClient);
    scratch_ = evbuffer_new();
    if (!scratch_) fatalx("out of memory for a new connection");
  } else if (route_->config().backend.websocket()) {
    bool deflate = !extensions_.empty();
    up_.emplace(FrameRules{true, deflate, max});
    down_.emplace(FrameRules{false, deflate, max});
  }
  client_->set_read_limit(kInHigh);
  if (backend_) backend_->set_read_limit(kInHigh);
  log_debug("%s \"%s\": open, route %s, backend %s", conn_.peer.c_str(), path_.c_str(),
            route_->name().c_str(), route_->config().backend.text.c_str());
  touch();
  deadlines_.clear(Deadlines::kHandshake);
  deadlines_.clear(Deadlines::kConnect);
  const Limits& l = route_->limits();
  if (l.idle_timeout_ms) deadlines_.set(Deadlines::kIdle, l.idle_timeout_ms);
  if (l.ping_interval_ms && codec_->has_pings())
    deadlines_.set(Deadlines::kPing, l.ping_interval_ms);
  process_client();
  // Frames that came in the same read as the backend's 101.
  if (backend_ && state_ == State::kOpen && evbuffer_get_length(backend_->input()))
    process_backend(false);
}

// ---- relaying ----

void Session::process_client() {
  if (state_ != State::kOpen || !client_) return;
  evbuffer* in = client_->input();
  if (up_) {
    if (!backend_ || backend_closing_) {
      evbuffer_drain(in, evbuffer_get_length(in));
      return;
    }
    DecodeError err = up_->relay(in, backend_->output(), up_watch_);
    if (err.code) {
      fail_relay(true, err);
      return;
    }
    if (up_watch_.relay_blocked()) client_->set_reading(false);
    finish_relayed_close();
    return;
  }
  DecodeError err = codec_->decode(in, *this);
  if (err.code) {
    fail(err.code, err.why);
    return;
  }
  if (state_ == State::kOpen && blocked()) client_->set_reading(false);
}

void Session::process_backend(bool eof) {
  evbuffer* in = backend_->input();
  if (state_ != State::kOpen) {
    evbuffer_drain(in, evbuffer_get_length(in));
    return;
  }
  if (down_) {
    DecodeError err = down_->relay(in, client_->output(), down_watch_);
    if (err.code) {
      fail_relay(false, err);
      return;
    }
    if (down_watch_.relay_blocked()) backend_->set_reading(false);
    if (ping_due_ && down_->at_boundary()) send_ping();
    finish_relayed_close();
    return;
  }
  if (backend_codec_) {
    DecodeError err = backend_codec_->decode(in, backend_sink_);
    if (err.code) {
      fail_relay(false, err);
      return;
    }
    if (backend_sink_.blocked()) backend_->set_reading(false);
    return;
  }
  const char* why = "";
  evbuffer* ready = chain_->downstream(in, eof, &why);
  if (!ready) {
    fail(close_code::kInternalError, why);
    return;
  }
  size_t n = evbuffer_get_length(ready);
  if (n) {
    uint8_t op = framing_ == Framing::kBinary ? kOpBinary : kOpText;
    codec_->encode_data(client_->output(), ready, n, op, true, true);
    msgs_out_++;
  }
  if (full(client_)) backend_->set_reading(false);
}

bool Session::blocked() const {
  return full(client_) || full(backend_);
}

void Session::on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) {
  if (state_ != State::kOpen) {
    evbuffer_drain(src, n);
    return;
  }
  msgs_in_ += fin;
  if (route_->config().backend.kind == BackendAddr::Kind::kEcho) {
    codec_->encode_data(client_->output(), src, n, opcode, first, fin);
    msgs_out_ += fin;
    return;
  }
  if (!backend_ || backend_closing_) {
    evbuffer_drain(src, n);
    return;
  }
  if (backend_codec_) {
    backend_codec_->encode_data(backend_->output(), src, n, kOpText, first, fin);
    return;
  }
  if (framing_ == Framing::kBase64 && opcode == kOpBinary) {
    evbuffer_drain(src, n);
    fail(close_code::kUnsupportedData, "binary frame where base64 text was agreed");
    return;
  }
  const char* why = "";
  if (!chain_->upstream(src, n, backend_->output(), &why)) fail(close_code::kInvalidPayload, why);
}

void Session::on_ping(const uint8_t* p, size_t n) {
  if (state_ == State::kOpen) codec_->encode_pong(client_->output(), p, n);
}

void Session::on_pong(const uint8_t* p, size_t n) {
  if (n == sizeof kPingPayload - 1 && memcmp(p, kPingPayload, n) == 0) ping_outstanding_ = false;
}

void Session::on_close(uint16_t code, std::string_view reason) {
  close_.note(code, reason);
  if (state_ == State::kOpen) {
    // Echo the code (section 5.5.1); an empty close gets an empty close.
    send_close(code, "");
    send_backend_close(close_code::kNormal, "client closed");
    close_backend();
  }
  close_client();
}

// ---- closing ----

// Fails the connection (section 7.1.7): close frame with the code, then TCP close.
void Session::fail(uint16_t code, const char* why) {
  log_info("%s \"%s\": closing with %u: %s", conn_.peer.c_str(), path_.c_str(), code, why);
  close_.note(code, why);
  close_both(code, close_code::kGoingAway, why);  // the backend did nothing wrong
}

// Sends close frames where a frame may go now (never inside a frame being relayed), then
// closes both sides once they are flushed.
void Session::close_both(uint16_t to_client, uint16_t to_backend, const char* why) {
  if (state_ == State::kOpen && (!down_ || down_->at_boundary())) send_close(to_client, why);
  send_backend_close(to_backend, why);
  close_backend();
  close_client();
}

// ws:// routes: a close frame as a client sends it, if the backend stream is between frames.
void Session::send_backend_close(uint16_t code, const char* why) {
  if (!backend_ || backend_closing_) return;
  // wsgate's own frames toward the backend may interleave with a fragmented message.
  if (backend_codec_) {
    backend_codec_->encode_close(backend_->output(), code, why);
    return;
  }
  if (!up_ || !up_->at_boundary()) return;
  uint8_t p[kMaxControlPayload];
  size_t n;
  close_payload(code, why, p, n);
  encode_masked_control(backend_->output(), kOpClose, p, n);
}

// A relayed peer broke the rules: it gets the close code, the other side hears it is gone.
void Session::fail_relay(bool from_client, const DecodeError& err) {
  log_info("%s \"%s\": %s broke the protocol, closing with %u: %s", conn_.peer.c_str(),
           path_.c_str(), from_client ? "client" : "backend", err.code, err.why);
  close_.note(err.code, err.why);
  close_both(from_client ? err.code : close_code::kInternalError,
             from_client ? close_code::kGoingAway : err.code, err.why);
}

// Both close frames have crossed: the closing handshake is complete end to end.
void Session::finish_relayed_close() {
  if (client_close_seen_ && backend_close_seen_) {
    close_backend();
    close_client();
  }
}

bool Session::RelayWatch::on_relay_control(uint8_t opcode, const uint8_t* p, size_t n) {
  // Pongs to wsgate's own pings end here.
  if (from_client_ && opcode == kOpPong && n == sizeof kPingPayload - 1 &&
      memcmp(p, kPingPayload, n) == 0) {
    s_.ping_outstanding_ = false;
    return false;
  }
  return true;
}

void Session::RelayWatch::on_relay_close(uint16_t code, std::string_view reason) {
  bool first = !s_.client_close_seen_ && !s_.backend_close_seen_;
  (from_client_ ? s_.client_close_seen_ : s_.backend_close_seen_) = true;
  s_.close_.note(code, reason);
  // The other side gets this long to answer with its own close.
  if (first) s_.wait_for_close();
}

bool Session::RelayWatch::relay_blocked() const {
  return full(from_client_ ? s_.backend_ : s_.client_);
}

void Session::BackendSink::on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) {
  evbuffer* out = s_.client_ ? s_.client_->output() : nullptr;
  if (s_.state_ != State::kOpen || !out) {
    evbuffer_drain(src, n);
    return;
  }
  if (opcode == kOpBinary && s_.route_->config().type != MessageType::kBinary) {
    evbuffer_drain(src, n);
    s_.fail_relay(false, {close_code::kUnsupportedData,
                          "binary message for a hybi-00 client on a type = text route"});
    return;
  }
  s_.msgs_out_ += fin;
  if (opcode == kOpText) {
    s_.codec_->encode_data(out, src, n, kOpText, first, fin);
    return;
  }
  // hybi-00 carries text only: the message goes as one base64 string.
  s_.base64_.encode(src, n, s_.scratch_, fin);
  s_.codec_->encode_data(out, s_.scratch_, evbuffer_get_length(s_.scratch_), kOpText, first, fin);
}

void Session::BackendSink::on_ping(const uint8_t* p, size_t n) {
  if (s_.backend_ && !s_.backend_closing_)
    s_.backend_codec_->encode_pong(s_.backend_->output(), p, n);
}

void Session::BackendSink::on_close(uint16_t code, std::string_view reason) {
  s_.backend_close_seen_ = true;
  s_.close_.note(code, reason);
  // The backend's code goes back to it; the client's protocol has no codes to carry.
  s_.send_backend_close(code, "");
  s_.send_close(code, reason);
  s_.close_backend();
  s_.close_client();
}

bool Session::BackendSink::blocked() const {
  return full(s_.client_);
}

void Session::send_close(uint16_t code, std::string_view reason) {
  close_.note(code, reason);
  state_ = State::kClosing;
  codec_->encode_close(client_->output(), code, reason);
}

// Flushes what the client is owed, then half-closes and waits briefly for its EOF.
void Session::close_client() {
  state_ = State::kClosing;
  if (!client_ || client_closing_) return;
  client_closing_ = true;
  deadlines_.clear_all();
  client_->set_reading(true);  // to see the client's EOF; what it sends now is dropped
  client_->shutdown_write(kFlushTimeoutSec);
}

// Flushes what the backend is owed, then closes it.
void Session::close_backend() {
  if (!backend_ || backend_closing_) return;
  backend_closing_ = true;
  backend_->set_reading(false);
  evbuffer* in = backend_->input();
  evbuffer_drain(in, evbuffer_get_length(in));
  backend_->shutdown_write(kFlushTimeoutSec);
}

// The client vanished without a close handshake: finish the backend's share and go.
void Session::client_gone(const char* why) {
  if (!client_close_seen_) send_backend_close(close_code::kGoingAway, "client went away");
  close_.note(close_code::kAbnormal, why);
  if (client_eof_ && out_len(client_) > 0)
    close_client();
  else
    free_client();
  close_backend();
  state_ = State::kClosing;
}

// The backend closed or failed: the client gets what was read, then a close frame.
void Session::backend_gone(TransportEvent ev) {
  bool eof = ev == TransportEvent::kEof;
  std::string err = eof ? "" : backend_->error();
  process_backend(true);
  if (state_ != State::kOpen) return;
  if (down_) {
    if (!backend_close_seen_ && down_->at_boundary())
      send_close(eof ? close_code::kGoingAway : close_code::kInternalError,
                 eof ? "backend went away" : "backend connection failed");
    free_backend();
    close_client();
    return;
  }
  if (eof) {
    send_close(close_code::kNormal, "backend closed the connection");
    close_backend();
  } else {
    log_info("%s \"%s\": backend %s failed: %s", conn_.peer.c_str(), path_.c_str(),
             route_->config().backend.text.c_str(), err.c_str());
    send_close(close_code::kInternalError, "backend connection failed");
    free_backend();
  }
  close_client();
}

void Session::free_client() {
  if (!client_) return;
  bytes_in_ = client_->bytes_read();
  bytes_out_ = client_->bytes_written();
  client_.reset();
}

void Session::free_backend() {
  backend_.reset();
}

// Deletes the session once neither socket is left; only called at the end of a callback.
// Before that, what the callback queued goes out.
void Session::maybe_done() {
  if (client_) client_->flush();
  if (backend_) backend_->flush();
  if (!client_ && !backend_) host_.session_done(this);
}

// ---- deadlines ----

void Session::touch() {
  last_activity_ms_ = deadlines_.now_ms();
}

// One side closed: the other gets kCloseWaitMs to answer; idling and pinging are over.
void Session::wait_for_close() {
  deadlines_.clear(Deadlines::kIdle);
  deadlines_.clear(Deadlines::kPing);
  deadlines_.set(Deadlines::kCloseWait, kCloseWaitMs);
}

// idle_timeout counts from the last byte read; activity only moves a timestamp, and the
// deadline is pushed back lazily here.
void Session::check_idle() {
  uint64_t limit = route_->limits().idle_timeout_ms, idle = deadlines_.now_ms() - last_activity_ms_;
  if (idle < limit) {
    deadlines_.set(Deadlines::kIdle, limit - idle);
    return;
  }
  log_info("%s \"%s\": closing with 1001: idle timeout", conn_.peer.c_str(), path_.c_str());
  close_both(close_code::kGoingAway, close_code::kGoingAway, "idle timeout");
}

void Session::check_ping() {
  if (ping_outstanding_) {
    // A client still taking our data is alive, even if its pong waits behind that data.
    if (client_->bytes_written() == bytes_out_at_ping_) {
      log_info("%s \"%s\": closing with 1001: no pong within ping_interval", conn_.peer.c_str(),
               path_.c_str());
      close_both(close_code::kGoingAway, close_code::kGoingAway, "no pong within ping_interval");
      return;
    }
    bytes_out_at_ping_ = client_->bytes_written();
    deadlines_.set(Deadlines::kPing, route_->limits().ping_interval_ms);
  } else if (down_ && !down_->at_boundary()) {
    ping_due_ = true;  // a relayed frame is half through: process_backend pings after it
  } else {
    send_ping();
  }
}

void Session::send_ping() {
  ping_due_ = false;
  codec_->encode_ping(client_->output(), kPingPayload, sizeof kPingPayload - 1);
  ping_outstanding_ = true;
  bytes_out_at_ping_ = client_->bytes_written();
  deadlines_.set(Deadlines::kPing, route_->limits().ping_interval_ms);
}

// ---- access log ----

void Session::write_access_log() {
  timeval now;
  event_base_gettimeofday_cached(host_.base(), &now);
  uint64_t ms = ms_between(start_, now);
  uint64_t in = client_ ? client_->bytes_read() : bytes_in_;
  uint64_t out = client_ ? client_->bytes_written() : bytes_out_;
  ::log_access(
      "%s \"%s\" route=%s backend=%s status=%d duration=%llu.%03llus in=%llu out=%llu "
      "close=%u \"%s\" msgs=%llu/%llu",
      conn_.peer.c_str(), path_.empty() ? "-" : path_.c_str(),
      route_ ? route_->name().c_str() : "-", route_ ? route_->config().backend.text.c_str() : "-",
      status_, static_cast<unsigned long long>(ms / 1000),
      static_cast<unsigned long long>(ms % 1000), static_cast<unsigned long long>(in),
      static_cast<unsigned long long>(out), close_.code, close_.reason.c_str(),
      static_cast<unsigned long long>(up_ ? up_->messages() : msgs_in_),
      static_cast<unsigned long long>(down_ ? down_->messages() : msgs_out_));
}

// ---- transport callbacks ----

void Session::on_readable(Transport& t) {
  if (&t == client_.get())
    client_readable();
  else
    backend_readable();
  maybe_done();
}

void Session::on_event(Transport& t, TransportEvent ev) {
  if (&t == client_.get())
    client_event(ev);
  else
    backend_event(ev);
  maybe_done();
}

// A side's output drained after backpressure: the paused side reads again.
void Session::on_drained(Transport& t) {
  bool open = state_ == State::kOpen;
  if (&t == client_.get() && (open || state_ == State::kErrorBody) && !client_closing_) {
    if (backend_ && !backend_closing_) {
      backend_->set_reading(true);
      // A relay stops inside a frame when the client is full; its rest is still buffered.
      if ((down_ || backend_codec_) && open) process_backend(false);
    }
    if (client_ && open) {
      client_->set_reading(true);
      process_client();
    }
  } else if (&t == backend_.get() && open && !backend_closing_ && client_) {
    client_->set_reading(true);
    process_client();
  }
  maybe_done();
}

void Session::client_readable() {
  if (client_closing_) {
    evbuffer* in = client_->input();
    evbuffer_drain(in, evbuffer_get_length(in));
  } else if (state_ == State::kHandshake) {
    read_handshake();
  } else if (state_ == State::kOpen) {
    touch();
    process_client();
  }
}

void Session::client_event(TransportEvent ev) {
  if (ev == TransportEvent::kShutdown) {
    // Our last bytes and FIN are out: wait briefly for the client's EOF.
    if (client_eof_)
      free_client();
    else
      deadlines_.set(Deadlines::kCloseWait, kCloseWaitMs);
    return;
  }
  // A clean EOF may be a half-close: what the client is still owed goes out first.
  bool eof = ev == TransportEvent::kEof;
  client_eof_ = eof;
  if (state_ == State::kOpen) {
    client_gone(eof ? "client closed TCP without a close frame" : "client connection failed");
  } else if (eof && client_closing_ && out_len(client_) > 0) {
    // Freed once the output is out (kShutdown).
  } else {
    free_client();
    if (state_ != State::kClosing) free_backend();
  }
}

void Session::backend_readable() {
  touch();
  if (state_ == State::kBackendHandshake)
    read_backend_answer();
  else if (state_ == State::kErrorBody)
    pipe_error_body();
  else
    process_backend(false);
}

void Session::backend_event(TransportEvent ev) {
  if (state_ == State::kConnecting) {
    if (ev == TransportEvent::kConnected && route_->config().backend.websocket()) {
      state_ = State::kBackendHandshake;
      backend_->set_read_limit(kMaxRequestHead + 1);
      deadlines_.clear(Deadlines::kConnect);
    } else if (ev == TransportEvent::kConnected) {
      open();
    } else {
      std::string err = backend_->error();
      reject(http_status::kBadGateway,
             ("backend " + route_->config().backend.text + " unreachable: " + err).c_str());
    }
  } else if (state_ == State::kBackendHandshake) {
    reject(http_status::kBadGateway, "backend closed the connection instead of answering");
  } else if (state_ == State::kErrorBody) {
    free_backend();
    close_client();
  } else if (backend_closing_) {
    free_backend();
  } else if (state_ == State::kOpen) {
    backend_gone(ev);
  } else {
    free_backend();
  }
}

void Session::on_deadline(void* ctx, Deadlines::Kind k) {
  Session* s = static_cast<Session*>(ctx);
  State st = s->state_;
  switch (k) {
    case Deadlines::kHandshake:
      if (st == State::kHandshake) {
        s->reject(http_status::kRequestTimeout, "request not complete within handshake_timeout");
      } else if (st == State::kConnecting) {
        s->reject(http_status::kGatewayTimeout, "backend connect timed out");
      } else if (st == State::kBackendHandshake) {
        s->reject(http_status::kGatewayTimeout, "backend did not answer the upgrade in time");
      } else if (st == State::kErrorBody) {
        s->free_backend();
        s->close_client();
      }
      break;
    case Deadlines::kConnect:
      if (st == State::kConnecting)
        s->reject(http_status::kGatewayTimeout, "backend connect timed out");
      break;
    case Deadlines::kIdle:
      if (st == State::kOpen) s->check_idle();
      break;
    case Deadlines::kPing:
      if (st == State::kOpen) s->check_ping();
      break;
    case Deadlines::kCloseWait:
      if (st == State::kOpen)
        s->close_both(close_code::kGoingAway, close_code::kGoingAway, "no close answer in time");
      else if (st == State::kClosing)
        s->free_client();
      break;
    case Deadlines::kCount:
      break;
  }
  s->maybe_done();
}
