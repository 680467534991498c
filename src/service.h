// What a service manager sees of wsgate: the pid file, and sd_notify states for systemd.
#pragma once

#include <string>

// Writes this process's pid to `path`, replacing whatever is there (a stale file from a crash).
// False with err when the file cannot be written.
bool pid_file_write(const std::string& path, std::string& err);
// Removes the file pid_file_write wrote, if it still holds this pid (a newer instance may have
// replaced it). Safe to call when none was written, and more than once.
void pid_file_remove();

// Sends a state such as "READY=1", "RELOADING=1" or "STOPPING=1" to systemd: a no-op unless
// wsgate was built with libsystemd and runs with NOTIFY_SOCKET set (Type=notify).
void service_notify(const char* state);
