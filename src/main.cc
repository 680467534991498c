// wsgate: command line, signals, and starting and stopping the workers.
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/crypto.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "block_cache.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "privileges.h"
#include "reload.h"
#include "runtime.h"
#include "service.h"
#include "tls_transport.h"
#include "worker.h"

namespace {

constexpr const char* kDefaultConfig = SYSCONFDIR "/wsgate/wsgate.ini";

void usage(FILE* f) {
  fprintf(f,
          "usage: wsgate [-c FILE] [-t] [-d] [-l LEVEL] [-V] [-h]\n"
          "  -c, --config FILE  configuration file (default %s)\n"
          "  -t, --test         check the configuration and exit\n"
          "  -d, --debug        log at debug level\n"
          "  -l, --log-level LEVEL  log level: error, warn, info or debug\n"
          "  -V, --version      print the version and exit\n"
          "  -h, --help         print this help and exit\n",
          kDefaultConfig);
}

// Raises the soft descriptor limit to the hard one; returns a warning if max_connections
// cannot fit, else "".
std::string raise_nofile(uint64_t max_connections) {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return "";
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  // Two descriptors per bridged connection, plus a few for listeners and logs.
  uint64_t need = 2 * max_connections + 32;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) return "";
  return "descriptor limit " + std::to_string(rl.rlim_cur) +
         " cannot hold max_connections = " + std::to_string(max_connections) + " (needs " +
         std::to_string(need) +
         "); raise \"ulimit -n\" (LimitNOFILE= for systemd) or lower max_connections";
}

// SIGUSR1: reopens the log files, for logrotate.
void reopen_logs() {
  std::string err;
  if (log_reopen(err))
    log_info("SIGUSR1: log files reopened");
  else
    log_error("SIGUSR1: cannot reopen a log file, still writing to the old one: %s", err.c_str());
}

// After the stop: waits for the workers to finish their close handshakes, but a second stop
// signal exits at once. Log reopening still works meanwhile.
void drain(std::vector<std::unique_ptr<Worker>>& workers, const sigset_t& signals) {
  for (;;) {
    bool all = true;
    for (auto& w : workers) all = all && w->finished();
    if (all) return;
    timespec tick = {0, 50 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGUSR1) reopen_logs();
    if (sig == SIGTERM || sig == SIGINT) {
      log_warn("%s received again: exiting now, cutting the connections still open",
               strsignal(sig));
      pid_file_remove();
      log_stop_writer();
      _exit(0);
    }
  }
}

// shutdown_grace: serving goes on with /healthz at 503, so that a balancer checking it moves
// new clients elsewhere before the listeners close. A second stop signal ends it early.
void grace(uint64_t ms, const sigset_t& signals) {
  if (!ms) return;
  log_info("serving for %llu ms more with /healthz at 503 (shutdown_grace)",
           static_cast<unsigned long long>(ms));
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t end = now.tv_sec * 1000ULL + now.tv_nsec / 1000000 + ms;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t at = now.tv_sec * 1000ULL + now.tv_nsec / 1000000;
    if (at >= end) return;
    timespec left = {static_cast<time_t>((end - at) / 1000),
                     static_cast<long>((end - at) % 1000 * 1000000)};
    int sig = sigtimedwait(&signals, nullptr, &left);
    if (sig == SIGUSR1) reopen_logs();
    if (sig == SIGHUP) log_info("SIGHUP received while stopping: ignored");
    if (sig == SIGTERM || sig == SIGINT) {
      log_info("%s received again: ending the grace", strsignal(sig));
      return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = kDefaultConfig;
  bool check_only = false;
  bool level_forced = false;
  LogLevel level = LogLevel::kInfo;
  static const option kLong[] = {{"config", required_argument, nullptr, 'c'},
                                 {"test", no_argument, nullptr, 't'},
                                 {"debug", no_argument, nullptr, 'd'},
                                 {"log-level", required_argument, nullptr, 'l'},
                                 {"version", no_argument, nullptr, 'V'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "c:tdl:Vh", kLong, nullptr)) != -1) {
    switch (ch) {
      case 'c':
        config_path = optarg;
        break;
      case 't':
        check_only = true;
        break;
      case 'd':
        level = LogLevel::kDebug;
        level_forced = true;
        break;
      case 'l':
        if (!parse_log_level(optarg, level)) {
          fprintf(stderr, "wsgate: bad log level \"%s\"; use error, warn, info or debug\n", optarg);
          return 1;
        }
        level_forced = true;
        break;
      case 'V':
        printf("wsgate %s\n", WSGATE_VERSION);
        return 0;
      case 'h':
        usage(stdout);
        return 0;
      default:
        usage(stderr);
        return 1;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return 1;
  }

  // Before OpenSSL allocates anything, or it keeps its own allocator.
  block_cache_install();
  // OpenSSL reads its configuration file now, as root and before any worker runs, not on a
  // worker's first connection (random masking keys) after privileges are dropped.
  OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr);
  tls_cache_record_buffers();
  Config config;
  std::vector<std::string> errors;
  // -t checks all that starting would build, routes included.
  std::shared_ptr<const Runtime> rt;
  if (config_load(config_path, config, errors)) rt = build_runtime(config, errors);
  if (!rt) {
    for (const std::string& e : errors) fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  if (check_only) {
    std::string warning = raise_nofile(config.max_connections);
    if (!warning.empty())
      fprintf(stderr, "%s: warning: %s\n", config_path.c_str(), warning.c_str());
    printf("configuration ok\n");
    return 0;
  }

  log_set_level(level_forced ? level : config.log_level);
  std::string err;
  if (!log_open(config.error_log, config.access_log, err)) {
    fprintf(stderr, "wsgate: cannot open log: %s\n", err.c_str());
    return 1;
  }
  log_start_writer();
  std::string nofile = raise_nofile(config.max_connections);
  if (!nofile.empty()) log_warn("%s", nofile.c_str());
  signal(SIGPIPE, SIG_IGN);
  if (evthread_use_pthreads() != 0) fatalx("libevent has no pthreads support");

  // Workers inherit a mask that blocks the control signals; only this thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  for (const ListenAddr& a : config.listen)
    if (!listen_address_free(a, err)) fatalx("%s", err.c_str());
  std::atomic<uint64_t> active{0};
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < config.workers; i++) {
    workers.push_back(std::make_unique<Worker>(i, rt, active));
    if (!workers.back()->listen(err)) fatalx("%s", err.c_str());
  }
  // The metrics listener binds before any worker runs, so a bad address stops the start cleanly.
  ProcessStats stats;
  std::unique_ptr<MetricsServer> metrics;
  if (!config.metrics_listen.empty()) {
    const ListenAddr& m = config.metrics_listen.front();
    metrics = std::make_unique<MetricsServer>(workers, stats);
    if (!metrics->listen(m, err))
      fatalx("%s:%d: [metrics] %s; free the port or pick another listen address",
             config.file.c_str(), m.line, err.c_str());
  }
  // Bound and logging: now the pid file, and the unprivileged account before any thread starts.
  if (!config.pid_file.empty() && !pid_file_write(config.pid_file, err)) fatalx("%s", err.c_str());
  if (!drop_privileges(config, err)) {
    pid_file_remove();
    fatalx("%s", err.c_str());
  }
  for (auto& w : workers) w->start();
  if (metrics) {
    metrics->start();
    log_info("metrics on http://%s/metrics and /healthz",
             config.metrics_listen.front().text.c_str());
  }
  std::string addrs;
  for (const ListenAddr& a : config.listen) addrs += (addrs.empty() ? "" : ", ") + a.text;
  log_info("wsgate %s listening on %s with %d worker%s and %zu route%s", WSGATE_VERSION,
           addrs.c_str(), config.workers, config.workers == 1 ? "" : "s", config.routes.size(),
           config.routes.size() == 1 ? "" : "s");
  service_notify("READY=1");

  int sig = 0;
  Serving serving{config_path, config, 1, level_forced};
  while (sigwait(&signals, &sig) == 0 && sig != SIGTERM && sig != SIGINT) {
    if (sig == SIGHUP) {
      service_notify("RELOADING=1");
      (reload(serving, workers) ? stats.reloads_ok : stats.reloads_failed)++;
      stats.generation = serving.generation;
      service_notify("READY=1");
    }
    if (sig == SIGUSR1) reopen_logs();
    if (sig == SIGUSR2) log_info("SIGUSR2 received and ignored");
  }
  log_info("%s received: closing connections and stopping", strsignal(sig));
  service_notify("STOPPING=1");
  stats.draining = true;  // /healthz answers 503 while the workers drain
  grace(serving.config.shutdown_grace_ms, signals);
  for (auto& w : workers) w->stop();
  drain(workers, signals);
  for (auto& w : workers) w->join();
  metrics.reset();  // it reads the workers' counters
  workers.clear();
  pid_file_remove();
  log_info("stopped");
  log_stop_writer();
  return 0;
}
