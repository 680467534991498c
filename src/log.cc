#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include <event2/event.h>

#include "log_writer.h"

namespace {

constexpr int kStderr = 2;
constexpr int kSyslog = -2;
constexpr int kOff = -1;

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
int g_error_fd = kStderr;
int g_access_fd = kStderr;
std::string g_error_path;  // as configured, for log_reopen()
std::string g_access_path;

const char* const kLevelNames[] = {"error", "warn", "info", "debug"};
const int kSyslogPriority[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

// Opens one log destination; returns its fd, kSyslog or kOff.
int open_dest(const std::string& dest, bool allow_off, std::string& err) {
  if (dest == "stderr") return kStderr;
  if (dest == "syslog") {
    openlog("wsgate", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    return kSyslog;
  }
  if (dest == "off" && allow_off) return kOff;
  int fd = open(dest.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) err = dest + ": " + strerror(errno);
  return fd;
}

// The local time as a log line starts with it: 2026-11-29T17:30:00.123.
size_t format_now(char* buf, size_t size) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
  return n + snprintf(buf + n, size - n, ".%03ld", ts.tv_nsec / 1000000);
}

// Writes one whole line with a single write(2), so lines from workers never interleave.
void emit(int dest, int priority, const char* prefix, const char* fmt, va_list ap) {
  char line[2048];
  size_t n = 0;
  if (dest != kSyslog) {
    n = format_now(line, sizeof line);
    n += snprintf(line + n, sizeof line - n, " %s", prefix);
  }
  int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  if (m > 0) n += static_cast<size_t>(m) < sizeof line - n - 1 ? m : sizeof line - n - 2;
  if (dest == kSyslog) {
    syslog(priority, "%s", line);
    return;
  }
  line[n++] = '\n';
  log_write(dest, std::string_view(line, n));
}

// Routes libevent's own warnings into our log at a matching level.
void libevent_log(int severity, const char* msg) {
  LogLevel level = severity >= EVENT_LOG_ERR    ? LogLevel::kError
                   : severity >= EVENT_LOG_WARN ? LogLevel::kWarn
                   : severity >= EVENT_LOG_MSG  ? LogLevel::kInfo
                                                : LogLevel::kDebug;
  log_msg(level, "libevent: %s", msg);
}

}  // namespace

bool parse_log_level(const std::string& s, LogLevel& out) {
  for (int i = 0; i < 4; i++)
    if (s == kLevelNames[i]) {
      out = static_cast<LogLevel>(i);
      return true;
    }
  return false;
}

bool log_open(const std::string& error_log, const std::string& access_log, std::string& err) {
  int e = open_dest(error_log, false, err);
  if (e == kOff || (e < 0 && e != kSyslog)) return false;
  int a = open_dest(access_log, true, err);
  if (a < 0 && a != kSyslog && a != kOff) return false;
  g_error_fd = e;
  g_access_fd = a;
  g_error_path = error_log;
  g_access_path = access_log;
  event_set_log_callback(libevent_log);
  return true;
}

// Opens the path again onto the same descriptor number, so that workers writing meanwhile
// reach either the old file or the new one, never a closed descriptor.
bool reopen_one(int fd, const std::string& path, std::string& err) {
  if (fd < 0 || fd == kStderr) return true;
  int fresh = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fresh < 0) {
    err += (err.empty() ? "" : "; ") + path + ": " + strerror(errno);
    return false;
  }
  bool ok = dup3(fresh, fd, O_CLOEXEC) >= 0;
  if (!ok) err += (err.empty() ? "" : "; ") + path + ": " + strerror(errno);
  close(fresh);
  return ok;
}

bool log_reopen(std::string& err) {
  bool ok = reopen_one(g_error_fd, g_error_path, err);
  if (g_access_fd != g_error_fd) ok = reopen_one(g_access_fd, g_access_path, err) && ok;
  return ok;
}

void log_set_level(LogLevel level) {
  g_level = static_cast<int>(level);
}

bool log_enabled(LogLevel level) {
  return static_cast<int>(level) <= g_level;
}

void log_msg(LogLevel level, const char* fmt, ...) {
  if (!log_enabled(level)) return;
  char prefix[16];
  snprintf(prefix, sizeof prefix, "[%s] ", kLevelNames[static_cast<int>(level)]);
  va_list ap;
  va_start(ap, fmt);
  emit(g_error_fd, kSyslogPriority[static_cast<int>(level)], prefix, fmt, ap);
  va_end(ap);
}

std::string log_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string log_time() {
  char buf[64];
  return std::string(buf, format_now(buf, sizeof buf));
}

bool log_access_enabled() {
  return g_access_fd != kOff;
}

void log_access_line(const std::string& line, bool stamp) {
  if (!log_access_enabled()) return;
  if (g_access_fd == kSyslog) {
    syslog(LOG_INFO, "%s", line.c_str());
    return;
  }
  char head[64];
  size_t n = stamp ? format_now(head, sizeof head) : 0;
  if (stamp) head[n++] = ' ';
  std::string whole;
  whole.reserve(n + line.size() + 1);
  whole.append(head, n).append(line).push_back('\n');
  log_write(g_access_fd, whole);
}

void log_start_writer() {
  log_writer_start(g_error_fd == kSyslog ? -1 : g_error_fd);
}

void log_stop_writer() {
  log_writer_stop();
}

void fatal(const char* fmt, ...) {
  int saved = errno;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_stop_writer();  // what is queued goes out first, and this line with it
  log_error("fatal: %s: %s", msg, strerror(saved));
  exit(1);
}

void fatalx(const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_stop_writer();
  log_error("fatal: %s", msg);
  exit(1);
}
