// setgroups/initgroups, setgid, setuid, in that order: each step needs the privilege the next
// one gives up.
#include "privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log.h"

namespace {

// "user x (uid 1)" for messages.
std::string describe(const char* what, const std::string& name, unsigned id) {
  return std::string(what) + " " + name + " (" + (what[0] == 'u' ? "uid " : "gid ") +
         std::to_string(id) + ")";
}

// Hands a log file (not stderr, syslog or off) to the account wsgate is switching to.
void give_log(const std::string& path, uid_t uid, gid_t gid) {
  if (path.empty() || path == "stderr" || path == "syslog" || path == "off") return;
  if (chown(path.c_str(), uid, gid) != 0)
    log_warn("cannot hand log file %s to uid %u: %s; SIGUSR1 may fail to reopen it", path.c_str(),
             static_cast<unsigned>(uid), strerror(errno));
}

}  // namespace

// getpwnam, not a parse of /etc/passwd: NSS may find accounts elsewhere (LDAP, systemd).
bool check_user_name(std::string& v, std::string& err) {
  if (v.empty() || getpwnam(v.c_str())) return true;
  err = "unknown user \"" + v + "\"; write an existing account (see getent passwd), or remove " +
        "the key to keep the user wsgate starts as";
  return false;
}

// Like check_user_name, for groups.
bool check_group_name(std::string& v, std::string& err) {
  if (v.empty() || getgrnam(v.c_str())) return true;
  err = "unknown group \"" + v + "\"; write an existing group (see getent group), or remove " +
        "the key to use the user's own group";
  return false;
}

// The accounts are looked up again: the file was checked at load, but may be older than now.
bool drop_privileges(const Config& config, std::string& err) {
  if (config.user.empty() && config.group.empty()) return true;
  const passwd* pw = nullptr;
  if (!config.user.empty() && !(pw = getpwnam(config.user.c_str()))) {
    err = "user \"" + config.user + "\" does not exist (any more); fix user in " + config.file;
    return false;
  }
  std::string user_name = pw ? pw->pw_name : "";
  uid_t uid = pw ? pw->pw_uid : geteuid();
  gid_t gid = pw ? pw->pw_gid : getegid();
  if (!config.group.empty()) {
    const group* gr = getgrnam(config.group.c_str());
    if (!gr) {
      err = "group \"" + config.group + "\" does not exist (any more); fix group in " + config.file;
      return false;
    }
    gid = gr->gr_gid;
  }
  if (geteuid() != 0) {
    if (uid == geteuid() && gid == getegid()) return true;
    err = "cannot switch to " +
          (config.user.empty() ? describe("group", config.group, gid)
                               : describe("user", config.user, uid)) +
          ": wsgate runs as uid " + std::to_string(geteuid()) +
          ", and only root can change accounts; start it as root, or remove user and group from " +
          config.file;
    return false;
  }
  give_log(config.error_log, uid, gid);
  give_log(config.access_log, uid, gid);
  int rc = pw ? initgroups(user_name.c_str(), gid) : setgroups(1, &gid);
  if (rc != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
    err = "cannot switch to uid " + std::to_string(uid) + " and gid " + std::to_string(gid) + ": " +
          strerror(errno);
    return false;
  }
  // A failed switch that still left root in place must not go unnoticed.
  if (uid != 0 && setuid(0) == 0) {
    err =
        "switched to uid " + std::to_string(uid) + " but could become root again; refusing to run";
    return false;
  }
  log_info(
      "running as %s, %s", describe("user", pw ? user_name : std::to_string(uid), uid).c_str(),
      describe("group", config.group.empty() ? std::to_string(gid) : config.group, gid).c_str());
  return true;
}
