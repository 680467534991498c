// The key table's internals, shared by the table (config_table.cc), its parsers (config_set.cc) and
// the INI driver (config.cc): each row's target member and its optional check.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "config.h"

// What a key is being set on: the config, and the route when inside one.
struct Section {
  Config* config = nullptr;
  RouteConfig* route = nullptr;   // null in [server]
  TlsSiteConfig* site = nullptr;  // in a [tls NAME] section
};

// The member a row sets. Limits members are the route's inside a route, else the server's.
using Field = std::variant<
    std::monostate, uint64_t Limits::*, uint64_t Config::*, int Config::*, LogLevel Config::*,
    std::string Config::*, std::vector<ListenAddr> Config::*, std::vector<std::string> Config::*,
    bool Config::*, ClientVerify Config::*, AccessLogFormat Config::*, std::string TlsSiteConfig::*,
    std::vector<std::string> TlsSiteConfig::*, bool RouteConfig::*, MessageType RouteConfig::*,
    std::string RouteConfig::*, std::vector<std::string> RouteConfig::*, BackendAddr RouteConfig::*,
    ProxyProtocol RouteConfig::*>;

// A key's own rule on top of its type: checks, and may rewrite, one value (for a list,
// one item) before the type's parser stores it. False with err to refuse it.
using Check = bool (*)(std::string& value, std::string& err);

constexpr uint64_t kAny = 0;  // as a row's max: no upper bound

// One row: what tests and docs see, plus where the value goes.
struct Option {
  OptionInfo info;
  Field field;
  Check check;
};

// The rows, in the order errors list known keys.
const std::vector<Option>& option_table();
// The row for `name` where `scope` (kServer or kRoute) allows it, or null.
const Option* find_option(const std::string& name, ConfigScope scope);
// Parses `value` by the row's type and stores it; false with err (no FILE:LINE) if bad.
bool set_option(const Option& o, Section& s, const std::string& value, std::string& err);
// Whether a row may be set in `scope`.
inline bool in_scope(const Option& o, ConfigScope scope) {
  return static_cast<int>(o.info.scope) & static_cast<int>(scope);
}
