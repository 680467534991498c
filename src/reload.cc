#include "reload.h"

#include <unistd.h>

#include "log.h"
#include "runtime.h"
#include "worker.h"

namespace {

constexpr int kSwapWaitMs = 2000;  // the longest the log line waits for a busy worker

// Whether `list` has an address equal to `a`.
bool has_address(const std::vector<ListenAddr>& list, const ListenAddr& a) {
  for (const ListenAddr& b : list)
    if (listen_same_address(a, b)) return true;
  return false;
}

// "A, B tls" for the log.
std::string addresses(const std::vector<ListenAddr>& list) {
  std::string s;
  for (const ListenAddr& a : list)
    s += (s.empty() ? "" : ", ") + a.text + (a.tls ? " tls" : "") + (a.proxy ? " proxy" : "");
  return s.empty() ? "none" : s;
}

// The ways a new configuration can be unusable beyond its own errors.
void check_swap(const Config& now, const Config& next, std::vector<std::string>& errors) {
  if (next.workers != now.workers)
    errors.push_back(next.file + ":" + std::to_string(next.line_of("workers")) +
                     ": workers changed from " + std::to_string(now.workers) + " to " +
                     std::to_string(next.workers) +
                     ", which a reload cannot do; restart wsgate to change it");
  std::string err;
  for (const ListenAddr& a : next.listen)
    if (!has_address(now.listen, a) && !listen_address_free(a, err))
      errors.push_back(next.file + ":" + std::to_string(a.line) + ": " + err +
                       "; a reload needs every new listener");
}

// Settings that only a restart applies, named in a warning rather than silently ignored.
void warn_restart_only(const Config& now, const Config& next) {
  if (next.error_log != now.error_log || next.access_log != now.access_log)
    log_warn("SIGHUP: error_log and access_log keep their old destinations until a restart");
  if (next.user != now.user || next.group != now.group || next.pid_file != now.pid_file)
    log_warn("SIGHUP: user, group and pid_file take effect at the next restart");
  bool metrics_same = next.metrics_listen.size() == now.metrics_listen.size();
  for (size_t i = 0; metrics_same && i < next.metrics_listen.size(); i++)
    metrics_same = listen_same_address(next.metrics_listen[i], now.metrics_listen[i]);
  if (!metrics_same) log_warn("SIGHUP: [metrics] listen takes effect at the next restart");
}

}  // namespace

bool reload(Serving& s, std::vector<std::unique_ptr<Worker>>& workers) {
  Config next;
  std::vector<std::string> errors;
  std::shared_ptr<const Runtime> rt;
  if (config_load(s.path, next, errors)) {
    check_swap(s.config, next, errors);
    if (errors.empty()) rt = build_runtime(next, errors);
  }
  if (!rt) {
    log_error("SIGHUP: reload failed; still serving generation %llu of %s:",
              static_cast<unsigned long long>(s.generation), s.path.c_str());
    for (const std::string& e : errors) log_error("%s", e.c_str());
    return false;
  }
  warn_restart_only(s.config, next);
  if (!s.level_forced) log_set_level(next.log_level);
  for (auto& w : workers) w->use_runtime(rt);
  // "Reloaded" is logged once every worker serves the new routes on the new listeners, so that
  // a client that reads the log line can count on them.
  for (int waited_ms = 0; waited_ms < kSwapWaitMs; waited_ms++) {
    bool all = true;
    for (auto& w : workers) all = all && w->serves(rt.get());
    if (all) break;
    usleep(1000);
  }
  std::string opened, closed;
  for (const ListenAddr& a : next.listen)
    if (!has_address(s.config.listen, a)) opened += " " + a.text;
  for (const ListenAddr& a : s.config.listen)
    if (!has_address(next.listen, a)) closed += " " + a.text;
  s.config = std::move(next);
  s.generation++;
  log_info("SIGHUP: reloaded %s: generation %llu, %zu route%s, listening on %s%s%s%s%s",
           s.path.c_str(), static_cast<unsigned long long>(s.generation), s.config.routes.size(),
           s.config.routes.size() == 1 ? "" : "s", addresses(s.config.listen).c_str(),
           opened.empty() ? "" : "; opened", opened.c_str(), closed.empty() ? "" : "; closed",
           closed.c_str());
  return true;
}
