#include "metrics_text.h"

#include <cinttypes>
#include <cstdio>

namespace {

// Appends one family's HELP and TYPE lines.
void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// Appends a sample; labels is empty or "a=\"x\",b=\"y\"".
void sample(std::string& out, const char* name, const std::string& labels, const std::string& v) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += v;
  out += '\n';
}

void sample(std::string& out, const char* name, const std::string& labels, uint64_t v) {
  sample(out, name, labels, std::to_string(v));
}

// One label, escaped.
std::string label(const char* key, std::string_view value) {
  return std::string(key) + "=\"" + prometheus_label_value(value) + "\"";
}

// A float as the format writes it: shortest form that reads back the same.
std::string number(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// A family with one sample per label value.
void labeled(std::string& out, const char* name, const char* type, const char* help,
             const char* key, const std::vector<LabeledCount>& counts) {
  family(out, name, type, help);
  for (const LabeledCount& c : counts) sample(out, name, label(key, c.label), c.value);
}

// A family with one unlabeled sample.
void single(std::string& out, const char* name, const char* type, const char* help,
            const std::string& v) {
  family(out, name, type, help);
  sample(out, name, "", v);
}

void routes(std::string& out, const MetricsSnapshot& s) {
  family(out, "wsgate_connections_open", "gauge",
         "WebSocket sessions open now (101 sent, not yet ended), per route.");
  for (const RouteSample& r : s.routes)
    sample(out, "wsgate_connections_open", label("route", r.name), r.open);
  family(out, "wsgate_connections_total", "counter",
         "WebSocket sessions opened (101 sent), per route.");
  for (const RouteSample& r : s.routes)
    sample(out, "wsgate_connections_total", label("route", r.name), r.opened);
  family(out, "wsgate_messages_total", "counter",
         "Data messages of ended sessions, per route and direction (in: from clients).");
  for (const RouteSample& r : s.routes) {
    sample(out, "wsgate_messages_total", label("route", r.name) + ",direction=\"in\"",
           r.messages_in);
    sample(out, "wsgate_messages_total", label("route", r.name) + ",direction=\"out\"",
           r.messages_out);
  }
  family(out, "wsgate_bytes_total", "counter",
         "Bytes on the client connections of ended sessions, framing included, per route and "
         "direction (in: from clients).");
  for (const RouteSample& r : s.routes) {
    sample(out, "wsgate_bytes_total", label("route", r.name) + ",direction=\"in\"", r.bytes_in);
    sample(out, "wsgate_bytes_total", label("route", r.name) + ",direction=\"out\"", r.bytes_out);
  }
}

void connect_histogram(std::string& out, const MetricsSnapshot& s) {
  const char* name = "wsgate_backend_connect_seconds";
  family(out, name, "histogram",
         "Time to connect to a backend (name lookup and TLS included, the WebSocket upgrade "
         "not).");
  uint64_t total = 0;
  for (size_t i = 0; i < s.connect_counts.size(); i++) {
    total += s.connect_counts[i];
    std::string le = i < s.connect_bounds.size() ? number(s.connect_bounds[i]) : "+Inf";
    sample(out, "wsgate_backend_connect_seconds_bucket", label("le", le), total);
  }
  if (s.connect_counts.empty())
    sample(out, "wsgate_backend_connect_seconds_bucket", "le=\"+Inf\"", 0);
  sample(out, "wsgate_backend_connect_seconds_sum", "", number(s.connect_sum));
  sample(out, "wsgate_backend_connect_seconds_count", "", total);
}

void per_ip(std::string& out, const MetricsSnapshot& s) {
  family(out, "wsgate_per_ip_rejected_total", "counter",
         "Clients answered 429 by a per-client limit (max_connections_per_ip: connections, "
         "handshake_rate_per_ip: rate).");
  sample(out, "wsgate_per_ip_rejected_total", "limit=\"connections\"",
         s.per_ip_rejected_connections);
  sample(out, "wsgate_per_ip_rejected_total", "limit=\"rate\"", s.per_ip_rejected_rate);
  single(out, "wsgate_per_ip_evictions_total", "counter",
         "Client addresses dropped from the full per-client table while their handshake rate "
         "was still counted.",
         std::to_string(s.per_ip_evictions));
  single(out, "wsgate_per_ip_table_full_total", "counter",
         "Clients admitted without per-client limits because every entry of their table group "
         "had live connections (raise per_ip_table_size).",
         std::to_string(s.per_ip_table_full));
}

void process(std::string& out, const MetricsSnapshot& s) {
  if (s.open_fds >= 0)
    single(out, "process_open_fds", "gauge", "Open file descriptors.", std::to_string(s.open_fds));
  if (s.max_fds >= 0)
    single(out, "process_max_fds", "gauge", "The limit on open file descriptors.",
           std::to_string(s.max_fds));
  if (s.resident_bytes >= 0)
    single(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           std::to_string(s.resident_bytes));
  if (s.virtual_bytes >= 0)
    single(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
           std::to_string(s.virtual_bytes));
}

}  // namespace

std::string prometheus_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string metrics_text(const MetricsSnapshot& s) {
  std::string out;
  out.reserve(4096 + 600 * s.routes.size());
  single(out, "wsgate_client_connections_open", "gauge",
         "Client connections open now, those still in the opening handshake included.",
         std::to_string(s.client_open));
  single(out, "wsgate_client_connections_total", "counter", "Client connections accepted.",
         std::to_string(s.client_total));
  routes(out, s);
  labeled(out, "wsgate_handshakes_total", "counter",
          "Opening handshakes answered, by HTTP status (101, or the error sent instead).", "status",
          s.statuses);
  labeled(out, "wsgate_close_codes_sent_total", "counter",
          "Close frames sent to clients, by close code (3xxx, 4xxx: application codes).", "code",
          s.close_sent);
  labeled(out, "wsgate_close_codes_received_total", "counter",
          "Close frames received from clients, by close code (1005: none given).", "code",
          s.close_received);
  connect_histogram(out, s);
  single(out, "wsgate_backend_failures_total", "counter",
         "Backends unreachable, too slow, or refusing the WebSocket upgrade.",
         std::to_string(s.backend_failures));
  single(out, "wsgate_tls_handshakes_total", "counter",
         "Client TLS handshakes completed, counted when the connection ends.",
         std::to_string(s.tls_handshakes));
  labeled(out, "wsgate_tls_handshake_failures_total", "counter",
          "Client TLS handshakes that failed, by reason.", "reason", s.tls_failures);
  labeled(out, "wsgate_proxy_protocol_errors_total", "counter",
          "Connections on proxy listeners closed without a valid PROXY protocol header, by reason.",
          "reason", s.proxy_errors);
  family(out, "wsgate_reloads_total", "counter", "SIGHUP reloads, by result.");
  sample(out, "wsgate_reloads_total", "result=\"ok\"", s.reloads_ok);
  sample(out, "wsgate_reloads_total", "result=\"failed\"", s.reloads_failed);
  single(out, "wsgate_config_generation", "gauge",
         "The configuration in use: 1 at start, one more at each successful reload.",
         std::to_string(s.generation));
  single(out, "wsgate_old_generation_sessions", "gauge",
         "Sessions still served with a configuration older than the one in use.",
         std::to_string(s.old_generation_sessions));
  single(out, "wsgate_draining", "gauge", "1 once a stop signal began draining, else 0.",
         s.draining ? "1" : "0");
  per_ip(out, s);
  process(out, s);
  return out;
}
