// Running as an unprivileged account: the user and group keys' checks, and the switch to them
// once the listeners are bound and the logs open.
#pragma once

#include <string>

#include "config.h"

// Key checks for the table: the user (group) must exist now, so that -t reports a typo with
// its FILE:LINE instead of the start failing later. Empty means unset.
bool check_user_name(std::string& v, std::string& err);
bool check_group_name(std::string& v, std::string& err);

// Switches to config.user and config.group (the user's own group when unset), with the user's
// supplementary groups; a no-op when both are unset or already in effect. Log files are
// given to the new owner first, so that SIGUSR1 can reopen what logrotate recreates.
// False with err when not root, or when a step fails.
bool drop_privileges(const Config& config, std::string& err);
