#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include <cstdio>
#include <map>

#include "client_limits.h"
#include "counters.h"
#include "log.h"
#include "worker.h"

namespace {

constexpr int kRequestTimeoutSec = 10;  // a scraper that stalls is dropped
constexpr size_t kMaxHeaders = 8192;

// Open descriptors: the entries of /proc/self/fd, less the one reading it; -1 if unreadable.
int64_t open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int64_t n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;
}

// The soft descriptor limit; -1 if unknown or unlimited.
int64_t max_fds() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
  return static_cast<int64_t>(rl.rlim_cur);
}

// Virtual and resident size from /proc/self/statm (in pages there).
void memory(MetricsSnapshot& s) {
  FILE* f = fopen("/proc/self/statm", "re");
  if (!f) return;
  unsigned long long size = 0, resident = 0;
  if (fscanf(f, "%llu %llu", &size, &resident) == 2) {
    int64_t page = sysconf(_SC_PAGESIZE);
    s.virtual_bytes = static_cast<int64_t>(size) * page;
    s.resident_bytes = static_cast<int64_t>(resident) * page;
  }
  fclose(f);
}

uint64_t get(const std::atomic<uint64_t>& c) {
  return c.load(std::memory_order_relaxed);
}

// The non-zero slots of a counter array, labelled.
template <size_t N, typename Label>
std::vector<LabeledCount> nonzero(const uint64_t (&sums)[N], Label label) {
  std::vector<LabeledCount> out;
  for (size_t i = 0; i < N; i++)
    if (sums[i]) out.push_back({label(static_cast<int>(i)), sums[i]});
  return out;
}

// Answers with a plain text body.
void reply(evhttp_request* req, int code, const char* reason, const char* type,
           const std::string& body) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", type);
  evhttp_add_header(headers, "Cache-Control", "no-store");
  evbuffer* out = evbuffer_new();
  if (!out) {
    evhttp_send_error(req, 500, nullptr);
    return;
  }
  evbuffer_add(out, body.data(), body.size());
  evhttp_send_reply(req, code, reason, out);
  evbuffer_free(out);
}

}  // namespace

MetricsServer::MetricsServer(const std::vector<std::unique_ptr<Worker>>& workers,
                             const ProcessStats& stats)
    : workers_(workers), stats_(stats) {
  base_ = event_base_new();
  if (!base_) fatalx("cannot create an event base for the metrics");
  http_ = evhttp_new(base_);
  if (!http_) fatalx("cannot set up the metrics HTTP server");
  stop_ev_ = event_new(base_, -1, 0, on_stop, this);
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
  evhttp_set_timeout(http_, kRequestTimeoutSec);
  evhttp_set_max_headers_size(http_, kMaxHeaders);
  evhttp_set_max_body_size(http_, 0);
  evhttp_set_cb(http_, "/metrics", on_metrics, this);
  evhttp_set_cb(http_, "/healthz", on_health, this);
  evhttp_set_gencb(http_, on_other, this);
}

MetricsServer::~MetricsServer() {
  stop();
  evhttp_free(http_);
  event_free(stop_ev_);
  event_base_free(base_);
}

bool MetricsServer::listen(const ListenAddr& addr, std::string& err) {
  unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
  evconnlistener* l =
      evconnlistener_new_bind(base_, nullptr, nullptr, flags, 64,
                              reinterpret_cast<const sockaddr*>(&addr.addr), addr.addrlen);
  if (!l || !evhttp_bind_listener(http_, l)) {
    err = "cannot listen on " + addr.text + ": " + strerror(errno);
    if (l) evconnlistener_free(l);
    return false;
  }
  return true;
}

void MetricsServer::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "wsgate metrics");
    event_base_dispatch(base_);
  });
}

void MetricsServer::stop() {
  if (!thread_.joinable()) return;
  event_active(stop_ev_, EV_READ, 0);
  thread_.join();
}

void MetricsServer::on_stop(int, short, void* ctx) {
  event_base_loopbreak(static_cast<MetricsServer*>(ctx)->base_);
}

MetricsSnapshot MetricsServer::snapshot() const {
  MetricsSnapshot s;
  uint64_t statuses[kStatusSlots] = {}, sent[kCloseSlots] = {}, received[kCloseSlots] = {},
           tls[kTlsFailureKinds] = {}, proxy[kProxyRefusalKinds] = {},
           buckets[ConnectHistogram::kBuckets + 1] = {}, sum_us = 0;
  std::map<std::string, RouteSample> routes;
  for (const auto& w : workers_) {
    const WorkerCounters& c = w->counters();
    s.client_open += get(c.active);
    s.client_total += get(c.accepted);
    s.backend_failures += get(c.backend_failures);
    s.tls_handshakes += get(c.tls_handshakes);
    s.old_generation_sessions += get(c.old_generation);
    for (int i = 0; i < kStatusSlots; i++) statuses[i] += get(c.statuses[i]);
    for (int i = 0; i < kCloseSlots; i++) sent[i] += get(c.close_sent[i]);
    for (int i = 0; i < kCloseSlots; i++) received[i] += get(c.close_received[i]);
    for (int i = 0; i < kTlsFailureKinds; i++) tls[i] += get(c.tls_failure_kinds[i]);
    for (int i = 0; i < kProxyRefusalKinds; i++) proxy[i] += get(c.proxy_refusals[i]);
    for (int i = 0; i <= ConnectHistogram::kBuckets; i++)
      buckets[i] += get(c.backend_connect.counts[i]);
    sum_us += get(c.backend_connect.sum_us);
    w->route_counter_set().each([&](const RouteCounters& r) {
      RouteSample& o = routes[r.name];
      o.name = r.name;
      o.open += get(r.open);
      o.opened += get(r.opened);
      o.messages_in += get(r.messages_in);
      o.messages_out += get(r.messages_out);
      o.bytes_in += get(r.bytes_in);
      o.bytes_out += get(r.bytes_out);
    });
  }
  for (auto& [name, r] : routes) s.routes.push_back(std::move(r));
  const ClientLimitCounters& per_ip = client_limit_counters();
  s.per_ip_rejected_connections = get(per_ip.rejected_connections);
  s.per_ip_rejected_rate = get(per_ip.rejected_rate);
  s.per_ip_evictions = get(per_ip.evictions);
  s.per_ip_table_full = get(per_ip.table_full);
  s.statuses = nonzero(statuses, [](int i) { return std::to_string(i); });
  s.close_sent = nonzero(sent, close_slot_label);
  s.close_received = nonzero(received, close_slot_label);
  // A failure whose kind was never set is one more of "other".
  tls[static_cast<int>(TlsFailure::kOther)] += tls[static_cast<int>(TlsFailure::kNone)];
  tls[static_cast<int>(TlsFailure::kNone)] = 0;
  s.tls_failures =
      nonzero(tls, [](int i) { return tls_failure_label(static_cast<TlsFailure>(i)); });
  s.proxy_errors = nonzero(proxy, proxy_refusal_label);
  for (uint64_t b : ConnectHistogram::kBoundsUs) s.connect_bounds.push_back(b / 1e6);
  s.connect_counts.assign(buckets, buckets + ConnectHistogram::kBuckets + 1);
  s.connect_sum = sum_us / 1e6;
  s.reloads_ok = stats_.reloads_ok.load();
  s.reloads_failed = stats_.reloads_failed.load();
  s.generation = stats_.generation.load();
  s.draining = stats_.draining.load();
  s.open_fds = open_fds();
  s.max_fds = max_fds();
  memory(s);
  return s;
}

void MetricsServer::on_metrics(evhttp_request* req, void* ctx) {
  const MetricsServer* m = static_cast<MetricsServer*>(ctx);
  reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", metrics_text(m->snapshot()));
}

// A balancer takes a 503 as "send no new clients here" while the open ones drain.
void MetricsServer::on_health(evhttp_request* req, void* ctx) {
  const MetricsServer* m = static_cast<MetricsServer*>(ctx);
  if (m->stats_.draining.load())
    reply(req, 503, "Service Unavailable", "text/plain; charset=utf-8", "draining\n");
  else
    reply(req, 200, "OK", "text/plain; charset=utf-8", "ok\n");
}

void MetricsServer::on_other(evhttp_request* req, void*) {
  reply(req, 404, "Not Found", "text/plain; charset=utf-8",
        "not found; try /metrics or /healthz\n");
}
