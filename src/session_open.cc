// The opening handshake: the client's request, the backend connect and, on ws:// routes, the
// backend's upgrade and its answer, up to the 101 or an HTTP error.
#include "session.h"

#include <cctype>
#include <cstdlib>

#include <event2/buffer.h>

#include "buffer.h"
#include "frame.h"
#include "handshake.h"
#include "http.h"
#include "hybi00.h"
#include "log.h"
#include "pipeline.h"
#include "proxy.h"
#include "proxy_protocol_out.h"
#include "route.h"
#include "runtime.h"
#include "session_host.h"
#include "uri_path.h"

void Session::read_handshake() {
  evbuffer* in = client_->input();
  long head = find_request_head(in, head_scanned_);
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
  if (status == 0) {
    path_.assign(req.path.data(), req.path.size());
    if (!req.query.empty()) path_.append("?").append(req.query.data(), req.query.size());
  }
  // Routes match, and ws:// backends get, the normalized path; the logs keep the client's.
  std::string normalized;
  if (status == 0) status = normalize_path(req.path, normalized, req.path, &why);
  if (status == 0 && req.method != "GET") {
    status = http_status::kMethodNotAllowed;
    why = "only GET can upgrade to WebSocket";
  }
  if (status == 0 && over_limit_) {
    status = http_status::kUnavailable;
    why = "max_connections reached; try again later";
  }
  if (status == 0 && per_ip_.kind != ClientVerdict::kAdmit) {
    status = http_status::kTooManyRequests;
    why = per_ip_.kind == ClientVerdict::kOverConnections
              ? "too many connections from this address; try again later"
              : "too many handshakes from this address; try again later";
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
  origin_.assign(up.origin.data(), up.origin.size());
  if (status == 0 && !route_->origin_allowed(up.origin)) {
    status = http_status::kForbidden;
    why = "origin not allowed";
  }
  if (status != 0) {
    reject(status, why);
    return;
  }
  opening_ = std::make_unique<Opening>();
  size_t consumed = head_len;
  if (hybi00) {
    // key3 follows the head, in this read or a later one; until then there is nothing to do.
    uint8_t key3[kHybi00Key3];
    evbuffer_ptr at;
    evbuffer_ptr_set(in, &at, head_len, EVBUFFER_PTR_SET);
    if (evbuffer_copyout_from(in, &at, key3, sizeof key3) < static_cast<ev_ssize_t>(sizeof key3))
      return;
    consumed += kHybi00Key3;
    opening_->hybi00 = true;
    hybi00_challenge(legacy.n1, legacy.n2, key3, opening_->challenge);
    opening_->origin.assign(up.origin.data(), up.origin.size());
    opening_->location = hybi00_location(req, client_->info().tls);
  } else {
    opening_->accept = websocket_accept(up.key);
  }
  opening_->protocol = std::string(route_->select_protocol(up.protocols, hybi00));
  opening_->framing = route_->pipeline().framing(hybi00, opening_->protocol);
  const BackendAddr& target = route_->config().backend;
  if (target.kind == BackendAddr::Kind::kEcho) {
    evbuffer_drain(in, consumed);  // bytes pipelined after the head stay for the codec
    open();
    return;
  }
  state_ = State::kConnecting;
  std::string err;
  connect_start_us_ = monotonic_us();
  backend_ = host_.connect_backend(target, route_->backend_tls(), route_->config().tls_verify, err);
  if (!backend_) {
    reject(http_status::kBadGateway, err.c_str());
    return;
  }
  backend_->set_handler(this);
  if (ProxyProtocol pp = route_->config().proxy_protocol; pp != ProxyProtocol::kOff) {
    ProxyHeader header;  // the client's addresses, ahead of the upgrade or the ClientHello
    client_->learn_local_address();
    proxy_header(pp, client_->info(), header);
    backend_->set_preamble(header.bytes, header.len);
  }
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
      opening_->offered.emplace_back(p);
      offer += (offer.empty() ? "" : ", ") + opening_->offered.back();
    }
  } else if (!opening_->protocol.empty()) {
    opening_->offered.push_back(opening_->protocol);
    offer = opening_->protocol;
  }
  opening_->protocol.clear();  // the backend's answer decides
  // A hybi-00 client has no key of its own: wsgate is the backend's RFC 6455 client.
  opening_->client_key = opening_->hybi00 ? new_websocket_key() : std::string(up.key);
  opening_->deflate_offered = !opening_->hybi00 && !deflate_offers(req).empty();
  const ConnInfo& who = client_->info();
  ClientInfo client{
      who.peer_ip.c_str(),
      who.tls,
      who.tls && rt_->tls_server && rt_->tls_server->verifies_clients(),
      who.client_cert.get(),
      &rt_->trusted_proxies,
      rt_->trusted_proxies.contains(reinterpret_cast<const sockaddr*>(&who.peer_addr))};
  write_backend_request(backend_->output(), req, route_->config().backend, opening_->client_key,
                        offer, client, route_->config().forwarded);
}

// Interim (1xx) answers a backend may send before its final one; more is a broken backend.
constexpr int kMaxInterim = 5;

// The backend's answer to the upgrade: a valid 101 opens the session, anything else goes back
// to the client as it came.
void Session::read_backend_answer() {
  evbuffer* in = backend_->input();
  long head = find_request_head(in, opening_->answer_scanned);
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
  // An interim answer (100 Continue, 103 Early Hints) comes before the final one: skip a few.
  if (resp.status >= 100 && resp.status < 200 && resp.status != http_status::kSwitching) {
    if (++opening_->interim > kMaxInterim) {
      reject(http_status::kBadGateway, "backend sent too many interim (1xx) responses");
      return;
    }
    evbuffer_drain(in, head);
    opening_->answer_scanned = 0;
    read_backend_answer();  // the final answer may have come in the same read
    return;
  }
  if (resp.status == http_status::kSwitching) {
    Switched sw;
    std::vector<std::string_view> offered(opening_->offered.begin(), opening_->offered.end());
    if (!check_switching(resp, opening_->client_key, offered, opening_->deflate_offered, sw,
                         &why)) {
      reject(http_status::kBadGateway, why);
      return;
    }
    opening_->protocol.assign(sw.protocol.data(), sw.protocol.size());
    opening_->extensions.assign(sw.extensions.data(), sw.extensions.size());
    // Set-Cookie and other end-to-end fields of the 101 go on to the client.
    evbuffer* fields = evbuffer_new();
    write_relayed_fields(fields, resp, true);
    opening_->backend_fields.resize(evbuffer_get_length(fields));
    evbuffer_remove(fields, opening_->backend_fields.data(), opening_->backend_fields.size());
    evbuffer_free(fields);
    evbuffer_drain(in, head);
    open();
    return;
  }
  // Relay the refusal (401, 403, 404, 500 ...) with its body, then close.
  status_ = resp.status;
  count_status(status_);
  WorkerCounters::add(host_.counters().backend_failures);
  log_info("%s \"%s\": backend %s answered %d", peer_.c_str(), log_escape(path_).c_str(),
           route_->config().backend.text.c_str(), resp.status);
  evbuffer* out = client_->output();
  evbuffer_add_printf(out, "HTTP/1.1 %d %.*s\r\n", resp.status,
                      static_cast<int>(resp.reason.size()), resp.reason.data());
  opening_->body_left = UINT64_MAX;
  if (const HeaderField* len = find_header(resp.headers, "Content-Length")) {
    std::string digits(len->value);
    char* end = nullptr;
    unsigned long long n = strtoull(digits.c_str(), &end, 10);
    if (!digits.empty() && *end == '\0' && isdigit(static_cast<unsigned char>(digits[0])))
      opening_->body_left = n;
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
  size_t n = static_cast<size_t>(std::min<uint64_t>(opening_->body_left, evbuffer_get_length(in)));
  move_bytes(in, client_->output(), n);
  opening_->body_left -= n;
  if (opening_->body_left == 0) {
    free_backend();
    close_client();
  } else if (backed_up(client_)) {
    backend_->set_reading(false);
  }
}

// Answers an HTTP error and closes once it is flushed.
void Session::reject(int status, const char* why) {
  status_ = status;
  count_status(status_);
  WorkerCounters::add(host_.counters().rejected);
  if (status == http_status::kBadGateway || status == http_status::kGatewayTimeout)
    WorkerCounters::add(host_.counters().backend_failures);
  if (status == http_status::kTooManyRequests)  // a flood must not flood the log too
    log_client_refused(peer_, per_ip_, rt_->per_ip, monotonic_us());
  else
    log_info("%s \"%s\": %d %s: %s", peer_.c_str(), log_escape(path_).c_str(), status,
             http_reason(status), why);
  free_backend();
  state_ = State::kClosing;
  // What went wrong behind wsgate (addresses, socket paths, TLS details) is for the log only.
  const char* told = status == http_status::kBadGateway       ? "the backend is unavailable"
                     : status == http_status::kGatewayTimeout ? "the backend did not answer in time"
                                                              : why;
  http_write_error(client_->output(), status, told,
                   status == http_status::kTooManyRequests ? per_ip_.retry_after : 0);
  close_client();
}

// The backend accepted the connection: only now does the client get its 101.
void Session::open() {
  state_ = State::kOpen;
  status_ = http_status::kSwitching;
  WorkerCounters::add(host_.counters().upgraded);
  count_open();
  bool hybi00 = opening_->hybi00;
  if (hybi00) {
    write_hybi00_switching(client_->output(), opening_->origin, opening_->location,
                           opening_->protocol, opening_->challenge, opening_->backend_fields);
  } else {
    write_switching(client_->output(), opening_->accept, opening_->protocol, opening_->extensions,
                    opening_->backend_fields);
  }
  pipeline_ = route_->pipeline().make(
      PipelineSpec{hybi00, opening_->framing, !opening_->extensions.empty()}, *this);
  protocol_ = std::move(opening_->protocol);
  extensions_ = std::move(opening_->extensions);
  opening_.reset();  // what the handshake needed is done with
  client_->set_read_limit(kInHigh);
  if (backend_) backend_->set_read_limit(kInHigh);
  log_debug("%s \"%s\": open, route %s, backend %s", peer_.c_str(), log_escape(path_).c_str(),
            route_->name().c_str(), route_->config().backend.text.c_str());
  touch();
  deadlines_.clear(Deadlines::kHandshake);
  deadlines_.clear(Deadlines::kConnect);
  const Limits& l = route_->limits();
  if (l.idle_timeout_ms) deadlines_.set(Deadlines::kIdle, l.idle_timeout_ms);
  if (l.ping_interval_ms && pipeline_->has_pings())
    deadlines_.set(Deadlines::kPing, l.ping_interval_ms);
  process_client();
  // Frames that came in the same read as the backend's 101.
  if (backend_ && state_ == State::kOpen && evbuffer_get_length(backend_->input()))
    process_backend(false);
}
