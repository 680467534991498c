// The pid file and systemd's readiness protocol, through libsystemd when configure found it.
#include "service.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"

namespace {

std::string g_pid_path;  // written by pid_file_write, for pid_file_remove at exit

}  // namespace

// O_TRUNC rather than a rename: the directory (/run/wsgate) may not be ours to add files to.
bool pid_file_write(const std::string& path, std::string& err) {
  std::string text = std::to_string(getpid()) + "\n";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  bool ok = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int saved = errno;
  if (fd >= 0 && close(fd) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    err = "cannot write pid_file " + path + ": " + strerror(saved) +
          "; make its directory writable for wsgate or change pid_file";
    return false;
  }
  g_pid_path = path;
  return true;
}

// Checks the content first: removing another instance's file would orphan it.
void pid_file_remove() {
  if (g_pid_path.empty()) return;
  std::string path;
  path.swap(g_pid_path);
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid != getpid()) return;
  if (unlink(path.c_str()) != 0)
    log_info(
        "cannot remove pid_file %s: %s (after the switch to user, its directory must be "
        "writable by that user)",
        path.c_str(), strerror(errno));
}

// sd_notify does nothing when NOTIFY_SOCKET is unset, so plain starts need no check here.
void service_notify(const char* state) {
#ifdef HAVE_SYSTEMD
  int rc = sd_notify(0, state);
  if (rc < 0) log_warn("sd_notify(%s) failed: %s", state, strerror(-rc));
#else
  (void)state;
#endif
}
