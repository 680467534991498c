// Reading a config value into its row's member, one parser per type, and writing a member
// back as the file would have it: the other half of config_table.cc's rows.
#include <string.h>

#include <algorithm>
#include <sstream>
#include <type_traits>

#include "config_table.h"
#include "config_values.h"

namespace {

using T = ConfigType;

// ---- Row members ----

// The row's member of type T (const T to read) in this config and route, or null when the
// row's member is of another type or belongs to a route and there is none.
template <typename T, typename C, typename R, typename S = const TlsSiteConfig>
T* member(const Field& f, C* config, R* route, S* site = nullptr) {
  using U = std::remove_const_t<T>;
  return std::visit(
      [&](auto m) -> T* {
        using M = decltype(m);
        if constexpr (std::is_same_v<M, U Limits::*>)
          return route ? &(route->limits.*m) : &(config->limits.*m);
        else if constexpr (std::is_same_v<M, U Config::*>)
          return &(config->*m);
        else if constexpr (std::is_same_v<M, U RouteConfig::*>)
          return route ? &(route->*m) : nullptr;
        else if constexpr (std::is_same_v<M, U TlsSiteConfig::*>)
          return site ? &(site->*m) : nullptr;
        else
          return nullptr;
      },
      f);
}

// The row's member in the section being parsed.
template <typename T>
T* target(const Option& o, Section& s) {
  return member<T>(o.field, s.config, s.route, s.site);
}

// A row whose member does not fit its type is a bug in the table; config_test.cc walks them.
bool no_member(const Option& o, std::string& err) {
  err = std::string("key ") + o.info.name + " has no member of type " +
        config_type_name(o.info.type) + " (a bug in the key table)";
  return false;
}

// The enum words of a row, in the enum's order.
std::vector<std::string> enum_words(const Option& o) {
  std::vector<std::string> words;
  std::string w;
  for (const char* c = o.info.choices; c && *c; c++) {
    if (*c == '|') {
      words.push_back(w);
      w.clear();
    } else {
      w += *c;
    }
  }
  words.push_back(w);
  return words;
}

// "a, b or c", for "write ..." in error messages.
std::string or_list(const std::vector<std::string>& words) {
  std::string s;
  for (size_t i = 0; i < words.size(); i++)
    s += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return s;
}

// ---- One parser per type ----

// Stores a checked number in the row's integer member, whatever its width.
bool store_number(const Option& o, Section& s, uint64_t n, std::string& err) {
  if (uint64_t* f = target<uint64_t>(o, s))
    *f = n;
  else if (int* i = target<int>(o, s))
    *i = static_cast<int>(n);
  else
    return no_member(o, err);
  return true;
}

// kDuration: "10s"; a value out of range names the key.
bool set_duration(const Option& o, Section& s, const std::string& v, std::string& err) {
  uint64_t ms;
  if (!parse_duration(v, ms)) {
    err =
        "bad duration \"" + v + "\"; write a number with ms, s, m or h (a bare number is seconds)";
    return false;
  }
  if (ms < o.info.min) {
    err = std::string(o.info.name) + (o.info.min == 1
                                          ? " must be more than 0"
                                          : " must be at least " + format_duration(o.info.min));
    return false;
  }
  if (o.info.max != kAny && ms > o.info.max) {
    err = std::string(o.info.name) + " must be at most " + format_duration(o.info.max);
    return false;
  }
  return store_number(o, s, ms, err);
}

// kSize: "16M", within the row's range.
bool set_size(const Option& o, Section& s, const std::string& v, std::string& err) {
  uint64_t n;
  if (!parse_size(v, n) || n < o.info.min || (o.info.max != kAny && n > o.info.max)) {
    err = "bad size \"" + v + "\"; write a number of bytes from " + format_size(o.info.min) +
          (o.info.max != kAny ? " to " + format_size(o.info.max) : "") +
          ", with k, M or G if wanted";
    return false;
  }
  return store_number(o, s, n, err);
}

// kNumber: a plain whole number within the row's range (or the hint's word, which the
// key's check has turned into one).
bool set_number(const Option& o, Section& s, const std::string& v, std::string& err) {
  uint64_t n;
  std::string rest;
  if (!parse_number(v, n, rest) || !rest.empty() || n < o.info.min ||
      (o.info.max != kAny && n > o.info.max)) {
    std::string min = std::to_string(o.info.min), max = std::to_string(o.info.max);
    err = std::string("bad ") + o.info.name + " \"" + v + "\"; write a number " +
          (o.info.max != kAny ? "from " + min + " to " + max : "of at least " + min) +
          (o.info.hint ? std::string(", or ") + o.info.hint : "");
    return false;
  }
  return store_number(o, s, n, err);
}

// kSwitch: on or off.
bool set_switch(const Option& o, Section& s, const std::string& v, std::string& err) {
  if (v != "on" && v != "off") {
    err = std::string("bad ") + o.info.name + " \"" + v + "\"; write on or off";
    return false;
  }
  bool* f = target<bool>(o, s);
  if (!f) return no_member(o, err);
  *f = v == "on";
  return true;
}

// kEnum: one of the row's words; the enum value is the word's position.
bool set_enum(const Option& o, Section& s, const std::string& v, std::string& err) {
  std::vector<std::string> words = enum_words(o);
  auto it = std::find(words.begin(), words.end(), v);
  if (it == words.end()) {
    err = std::string("bad ") + o.info.name + " \"" + v + "\"; write " + or_list(words);
    return false;
  }
  int i = static_cast<int>(it - words.begin());
  if (LogLevel* level = target<LogLevel>(o, s))
    *level = static_cast<LogLevel>(i);
  else if (MessageType* type = target<MessageType>(o, s))
    *type = static_cast<MessageType>(i);
  else if (ClientVerify* verify = target<ClientVerify>(o, s))
    *verify = static_cast<ClientVerify>(i);
  else if (AccessLogFormat* format = target<AccessLogFormat>(o, s))
    *format = static_cast<AccessLogFormat>(i);
  else if (ProxyProtocol* pp = target<ProxyProtocol>(o, s))
    *pp = static_cast<ProxyProtocol>(i);
  else
    return no_member(o, err);
  return true;
}

// kString: any text at least `min` long.
bool set_string(const Option& o, Section& s, const std::string& v, std::string& err) {
  if (v.size() < o.info.min) {
    err = std::string(o.info.name) + " is empty; write " + (o.info.hint ? o.info.hint : "a value");
    return false;
  }
  std::string* f = target<std::string>(o, s);
  if (!f) return no_member(o, err);
  *f = v;
  return true;
}

// kList: comma-separated, each item passed through the key's check.
bool set_list(const Option& o, Section& s, const std::string& v, std::string& err) {
  std::vector<std::string>* f = target<std::vector<std::string>>(o, s);
  if (!f) return no_member(o, err);
  std::vector<std::string> items = split_list(v);
  for (std::string& item : items)
    if (o.check && !o.check(item, err)) return false;
  // A repeatable list grows with each line, so that a long one needs no long line.
  if (!o.info.repeatable) f->clear();
  f->insert(f->end(), items.begin(), items.end());
  return true;
}

// kAddress: a numeric IP and a port, then optionally "tls"; not given twice; a repeatable key
// adds one more.
bool set_address(const Option& o, Section& s, const std::string& value, std::string& err) {
  std::string v = value;
  bool tls = false, proxy = false;
  size_t blank = v.find_first_of(" \t");
  if (blank != std::string::npos) {
    std::istringstream words(v.substr(blank));
    for (std::string word; words >> word;) {
      bool* flag = word == "tls" ? &tls : word == "proxy" ? &proxy : nullptr;
      if (!flag || *flag) {
        err = std::string(flag ? "repeated" : "unknown") + " word \"" + word + "\" after the " +
              o.info.name +
              " address; the words allowed are tls and proxy, once each, e.g. 0.0.0.0:443 tls "
              "proxy";
        return false;
      }
      *flag = true;
    }
    v.resize(blank);
  }
  ListenAddr a;
  if (!parse_listen_address(v, a)) {
    err = std::string("bad ") + o.info.name + " address \"" + v +
          "\"; write IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:8080";
    return false;
  }
  std::vector<ListenAddr>* list = target<std::vector<ListenAddr>>(o, s);
  if (!list) return no_member(o, err);
  if (!o.info.repeatable) list->clear();
  for (const ListenAddr& other : *list)
    if (other.addrlen == a.addrlen && memcmp(&other.addr, &a.addr, a.addrlen) == 0) {
      err = std::string(o.info.name) + " address " + v + " is given twice; remove one";
      return false;
    }
  a.tls = tls;
  a.proxy = proxy;
  list->push_back(a);
  return true;
}

// kBackend: a target, which also marks the route as having one.
bool set_backend(const Option& o, Section& s, const std::string& v, std::string& err) {
  BackendAddr* b = target<BackendAddr>(o, s);
  if (!b) return no_member(o, err);
  if (!parse_backend(v, *b, err)) return false;
  if (s.route) s.route->has_backend = true;
  return true;
}

// Joins items as a list is written.
template <typename Items, typename Text>
std::string join(const Items& items, Text text) {
  std::string s;
  for (const auto& item : items) s += (s.empty() ? "" : ", ") + text(item);
  return s;
}

// A member's value written as the file would have it; false if the row has no such member.
bool format_option(const Option& o, const Config* c, const RouteConfig* r, std::string& out) {
  const Field& f = o.field;
  switch (o.info.type) {
    case T::kDuration:
    case T::kSize:
    case T::kNumber:
      if (const uint64_t* n = member<const uint64_t>(f, c, r))
        out = o.info.type == T::kDuration ? format_duration(*n)
              : o.info.type == T::kSize   ? format_size(*n)
                                          : std::to_string(*n);
      else if (const int* i = member<const int>(f, c, r))
        out = std::to_string(*i);
      else
        return false;
      return true;
    case T::kSwitch:
      if (const bool* b = member<const bool>(f, c, r)) return out = *b ? "on" : "off", true;
      return false;
    case T::kEnum: {
      int i = -1;
      if (const LogLevel* level = member<const LogLevel>(f, c, r)) i = static_cast<int>(*level);
      if (const MessageType* type = member<const MessageType>(f, c, r)) i = static_cast<int>(*type);
      if (const ClientVerify* v = member<const ClientVerify>(f, c, r)) i = static_cast<int>(*v);
      if (const AccessLogFormat* a = member<const AccessLogFormat>(f, c, r))
        i = static_cast<int>(*a);
      if (const ProxyProtocol* pp = member<const ProxyProtocol>(f, c, r)) i = static_cast<int>(*pp);
      std::vector<std::string> words = enum_words(o);
      if (i < 0 || i >= static_cast<int>(words.size())) return false;
      out = words[i];
      return true;
    }
    case T::kString:
      if (const std::string* s = member<const std::string>(f, c, r)) return out = *s, true;
      return false;
    case T::kList:
      if (const auto* l = member<const std::vector<std::string>>(f, c, r))
        return out = join(*l, [](const std::string& s) { return s; }), true;
      return false;
    case T::kAddress:
      if (const auto* l = member<const std::vector<ListenAddr>>(f, c, r))
        return out = join(*l,
                          [](const ListenAddr& a) {
                            return a.text + (a.tls ? " tls" : "") + (a.proxy ? " proxy" : "");
                          }),
               true;
      return false;
    case T::kBackend:
      if (const BackendAddr* b = member<const BackendAddr>(f, c, r)) return out = b->text, true;
      return false;
  }
  return false;
}

}  // namespace

// The key's check first (lists check per item), then its type's parser.
bool set_option(const Option& o, Section& s, const std::string& value, std::string& err) {
  std::string v = value;
  if (o.check && o.info.type != T::kList && !o.check(v, err)) return false;
  switch (o.info.type) {
    case T::kDuration:
      return set_duration(o, s, v, err);
    case T::kSize:
      return set_size(o, s, v, err);
    case T::kNumber:
      return set_number(o, s, v, err);
    case T::kSwitch:
      return set_switch(o, s, v, err);
    case T::kEnum:
      return set_enum(o, s, v, err);
    case T::kString:
      return set_string(o, s, v, err);
    case T::kList:
      return set_list(o, s, v, err);
    case T::kAddress:
      return set_address(o, s, v, err);
    case T::kBackend:
      return set_backend(o, s, v, err);
  }
  return no_member(o, err);
}

// Finds the row in any scope; the member decides whether route is needed.
bool config_option_value(const std::string& key, const Config& config, const RouteConfig* route,
                         std::string& out) {
  for (const Option& o : option_table())
    if (key == o.info.name) return format_option(o, &config, route, out);
  return false;
}

// The first row of that name in the scope, as the parser would find it.
bool config_option_value(const std::string& key, ConfigScope scope, const Config& config,
                         const RouteConfig* route, std::string& out) {
  const Option* o = find_option(key, scope);
  return o && format_option(*o, &config, route, out);
}
