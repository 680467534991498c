// wsgate: command line, signals, and starting and stopping the workers.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "log.h"
#include "runtime.h"
#include "worker.h"

namespace {

constexpr const char* kDefaultConfig = SYSCONFDIR "/wsgate/wsgate.ini";

void usage(FILE* f) {
  fprintf(f,
          "usage: wsgate [-c FILE] [-t] [-d] [-l LEVEL] [-V] [-h]\n"
          "  -c FILE   configuration file (default %s)\n"
          "  -t        check the configuration and exit\n"
          "  -d        log at debug level\n"
          "  -l LEVEL  log level: error, warn, info or debug\n"
          "  -V        print the version and exit\n"
          "  -h        print this help and exit\n",
          kDefaultConfig);
}

// Raises the soft descriptor limit to the hard one; warns if max_connections cannot fit.
void raise_nofile(uint64_t max_connections) {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  // Two descriptors per bridged connection, plus a few for listeners and logs.
  uint64_t need = 2 * max_connections + 32;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
    log_warn(
        "descriptor limit %llu cannot hold max_connections = %llu (needs %llu); raise "
        "\"ulimit -n\" or lower max_connections",
        static_cast<unsigned long long>(rl.rlim_cur),
        static_cast<unsigned long long>(max_connections), static_cast<unsigned long long>(need));
}

// SIGHUP: loads the certificates, keys and CA files again into a new Runtime for new
// connections; if any fails, logs why and keeps the one in use.
void reload_files(const Config& config, std::vector<std::unique_ptr<Worker>>& workers) {
  std::vector<std::string> errors;
  std::shared_ptr<const Runtime> rt = build_runtime(config, errors);
  if (!rt) {
    log_error("SIGHUP: reload failed; still serving with the files loaded before:");
    for (const std::string& e : errors) log_error("%s", e.c_str());
    return;
  }
  for (auto& w : workers) w->use_runtime(rt);
  log_info(
      "SIGHUP: reloaded the TLS certificates, keys and CA files; other configuration changes "
      "need a restart");
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = kDefaultConfig;
  bool check_only = false;
  bool level_forced = false;
  LogLevel level = LogLevel::kInfo;
  int ch;
  while ((ch = getopt(argc, argv, "c:tdl:Vh")) != -1) {
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
    printf("configuration ok\n");
    return 0;
  }

  log_set_level(level_forced ? level : config.log_level);
  std::string err;
  if (!log_open(config.error_log, config.access_log, err)) {
    fprintf(stderr, "wsgate: cannot open log: %s\n", err.c_str());
    return 1;
  }
  raise_nofile(config.max_connections);
  signal(SIGPIPE, SIG_IGN);
  if (evthread_use_pthreads() != 0) fatalx("libevent has no pthreads support");

  // Workers inherit a mask that blocks the stop signals; only this thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  for (const ListenAddr& a : config.listen)
    if (!listen_address_free(a, err)) fatalx("%s", err.c_str());
  std::atomic<uint64_t> active{0};
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < config.workers; i++) {
    workers.push_back(std::make_unique<Worker>(i, rt, active));
    if (!workers.back()->listen(err)) fatalx("%s", err.c_str());
  }
  for (auto& w : workers) w->start();
  std::string addrs;
  for (const ListenAddr& a : config.listen) addrs += (addrs.empty() ? "" : ", ") + a.text;
  log_info("wsgate %s listening on %s with %d worker%s and %zu route%s", WSGATE_VERSION,
           addrs.c_str(), config.workers, config.workers == 1 ? "" : "s", config.routes.size(),
           config.routes.size() == 1 ? "" : "s");

  int sig = 0;
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) reload_files(config, workers);
  log_info("%s received: closing connections and stopping", strsignal(sig));
  for (auto& w : workers) w->stop();
  for (auto& w : workers) w->join();
  workers.clear();
  log_info("stopped");
  return 0;
}
