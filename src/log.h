// Leveled error log, the access log, and libevent's messages routed into both.
#pragma once

#include <string>
#include <string_view>

enum class LogLevel { kError = 0, kWarn, kInfo, kDebug };

// Parses "error|warn|info|debug"; false for anything else.
bool parse_log_level(const std::string& s, LogLevel& out);

// Opens the error and access logs ("stderr", "syslog", "off" or a path); false sets err.
bool log_open(const std::string& error_log, const std::string& access_log, std::string& err);
// Reopens log files by their paths (after logrotate moved them); a file that cannot be opened
// keeps its old descriptor, and err says why. stderr and syslog are left alone.
bool log_reopen(std::string& err);
void log_set_level(LogLevel level);
// From here on lines are written by a thread of their own, so that a slow log destination
// never stalls an event loop (see log_writer.h).
void log_start_writer();
// Writes out what is queued and goes back to writing at once; before exit.
void log_stop_writer();
bool log_enabled(LogLevel level);

// Network text made safe for a log line: control characters, DEL, " and \ become \xHH, so a
// value can neither end the line nor its quotes.
std::string log_escape(std::string_view s);

void log_msg(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// One access-log line as given, after the time when `stamp` (never for syslog); a no-op when
// the access log is off.
void log_access_line(const std::string& line, bool stamp);
// False when access_log = off, so that callers need not build a line for nothing.
bool log_access_enabled();
// The local time as log lines carry it, e.g. 2026-11-29T17:30:00.123.
std::string log_time();
// Logs with strerror(errno) appended, then exits 1.
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Logs, then exits 1.
[[noreturn]] void fatalx(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_error(...) log_msg(LogLevel::kError, __VA_ARGS__)
#define log_warn(...) log_msg(LogLevel::kWarn, __VA_ARGS__)
#define log_info(...) log_msg(LogLevel::kInfo, __VA_ARGS__)
#define log_debug(...)                                                         \
  do {                                                                         \
    if (log_enabled(LogLevel::kDebug)) log_msg(LogLevel::kDebug, __VA_ARGS__); \
  } while (0)
