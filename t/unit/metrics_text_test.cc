// The Prometheus text exposition of a snapshot: HELP and TYPE per family, labels escaped,
// histogram buckets cumulative with +Inf, _sum and _count.
#include "metrics_text.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

namespace {

// Each "# TYPE name type" line of the text.
std::map<std::string, std::string> types(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, 7, "# TYPE ") != 0) continue;
    std::istringstream words(line.substr(7));
    std::string name, type;
    words >> name >> type;
    out[name] = type;
  }
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

MetricsSnapshot example() {
  MetricsSnapshot s;
  s.client_open = 3;
  s.client_total = 10;
  RouteSample r;
  r.name = "echo";
  r.open = 2;
  r.opened = 7;
  r.messages_in = 5;
  r.messages_out = 6;
  r.bytes_in = 100;
  r.bytes_out = 200;
  s.routes.push_back(r);
  s.statuses = {{"101", 7}, {"404", 1}};
  s.close_sent = {{"1000", 4}};
  s.close_received = {{"1001", 2}};
  s.connect_bounds = {0.001, 0.0025, 5};
  s.connect_counts = {1, 0, 2, 1};
  s.connect_sum = 6.5;
  s.tls_failures = {{"plain_http", 1}};
  s.proxy_errors = {{"timeout", 3}};
  s.reloads_ok = 2;
  s.reloads_failed = 1;
  s.generation = 3;
  s.old_generation_sessions = 1;
  s.open_fds = 12;
  s.resident_bytes = 4096;
  return s;
}

TEST(MetricsText, EveryFamilyHasHelpAndType) {
  std::string text = metrics_text(example());
  std::map<std::string, std::string> t = types(text);
  EXPECT_EQ(t["wsgate_connections_open"], "gauge");
  EXPECT_EQ(t["wsgate_connections_total"], "counter");
  EXPECT_EQ(t["wsgate_handshakes_total"], "counter");
  EXPECT_EQ(t["wsgate_backend_connect_seconds"], "histogram");
  EXPECT_EQ(t["process_open_fds"], "gauge");
  EXPECT_EQ(t["process_resident_memory_bytes"], "gauge");
  EXPECT_EQ(t.count("process_max_fds"), 0u) << "unknown figures are left out";
  std::istringstream in(text);
  std::string help;
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, 7, "# HELP ") == 0) help = line.substr(7, line.find(' ', 7) - 7);
    if (line.compare(0, 7, "# TYPE ") == 0) {
      EXPECT_EQ(line.substr(7, line.find(' ', 7) - 7), help) << "TYPE right after its HELP";
    }
    if (line[0] != '#') {
      EXPECT_EQ(line.compare(0, help.size(), help), 0) << line << " outside its family " << help;
    }
  }
  EXPECT_EQ(text.back(), '\n');
}

TEST(MetricsText, Samples) {
  std::string text = metrics_text(example());
  for (const char* line : {
           "wsgate_client_connections_open 3",
           "wsgate_client_connections_total 10",
           "wsgate_connections_open{route=\"echo\"} 2",
           "wsgate_connections_total{route=\"echo\"} 7",
           "wsgate_messages_total{route=\"echo\",direction=\"in\"} 5",
           "wsgate_messages_total{route=\"echo\",direction=\"out\"} 6",
           "wsgate_bytes_total{route=\"echo\",direction=\"in\"} 100",
           "wsgate_bytes_total{route=\"echo\",direction=\"out\"} 200",
           "wsgate_handshakes_total{status=\"101\"} 7",
           "wsgate_handshakes_total{status=\"404\"} 1",
           "wsgate_close_codes_sent_total{code=\"1000\"} 4",
           "wsgate_close_codes_received_total{code=\"1001\"} 2",
           "wsgate_tls_handshake_failures_total{reason=\"plain_http\"} 1",
           "wsgate_proxy_protocol_errors_total{reason=\"timeout\"} 3",
           "wsgate_reloads_total{result=\"ok\"} 2",
           "wsgate_reloads_total{result=\"failed\"} 1",
           "wsgate_config_generation 3",
           "wsgate_old_generation_sessions 1",
           "wsgate_draining 0",
           "process_open_fds 12",
           "process_resident_memory_bytes 4096",
       })
    EXPECT_TRUE(has_line(text, line)) << "no line: " << line << "\n" << text;
}

TEST(MetricsText, HistogramIsCumulative) {
  std::string text = metrics_text(example());
  for (const char* line : {
           "wsgate_backend_connect_seconds_bucket{le=\"0.001\"} 1",
           "wsgate_backend_connect_seconds_bucket{le=\"0.0025\"} 1",
           "wsgate_backend_connect_seconds_bucket{le=\"5\"} 3",
           "wsgate_backend_connect_seconds_bucket{le=\"+Inf\"} 4",
           "wsgate_backend_connect_seconds_sum 6.5",
           "wsgate_backend_connect_seconds_count 4",
       })
    EXPECT_TRUE(has_line(text, line)) << "no line: " << line << "\n" << text;
}

TEST(MetricsText, EmptySnapshotIsStillComplete) {
  std::string text = metrics_text(MetricsSnapshot());
  EXPECT_TRUE(has_line(text, "wsgate_backend_connect_seconds_bucket{le=\"+Inf\"} 0"));
  EXPECT_TRUE(has_line(text, "wsgate_backend_connect_seconds_count 0"));
  EXPECT_TRUE(has_line(text, "# TYPE wsgate_handshakes_total counter"));
  EXPECT_EQ(text.find("wsgate_handshakes_total{"), std::string::npos);
}

TEST(MetricsText, LabelValuesAreEscaped) {
  EXPECT_EQ(prometheus_label_value("plain"), "plain");
  EXPECT_EQ(prometheus_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  MetricsSnapshot s;
  RouteSample r;
  r.name = "we\"ird\\";
  s.routes.push_back(r);
  EXPECT_TRUE(has_line(metrics_text(s), "wsgate_connections_open{route=\"we\\\"ird\\\\\"} 0"));
}

TEST(MetricsText, Draining) {
  MetricsSnapshot s;
  s.draining = true;
  EXPECT_TRUE(has_line(metrics_text(s), "wsgate_draining 1"));
}

}  // namespace
