#include "config.h"

#include <ini.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <regex.h>
#include <string.h>
#include <sys/un.h>

#include <event2/util.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tls.h"

namespace {

constexpr int kMaxLine = 199;  // inih's INI_MAX_LINE less the terminator

enum Scope { kServer = 1, kRoute = 2, kBoth = 3 };

struct Parser;
using Setter = bool (*)(Parser&, const std::string& value, std::string& err);

// One INI key: where it may appear, how its value is read, and what to tell the operator.
struct Option {
  const char* name;
  int scope;
  bool repeatable;
  Setter set;
};

// Parse state shared by the line reader and inih's handler.
struct Parser {
  std::string file;
  Config* config = nullptr;
  std::vector<std::string>* errors = nullptr;
  const char* p = nullptr;
  const char* end = nullptr;
  int line = 0;
  int last_error_line = 0;
  bool in_server = false;
  RouteConfig* route = nullptr;
  // Route keys that were set explicitly, so [server] defaults fill only the rest.
  std::vector<std::set<std::string>> route_keys;
  std::set<std::string> seen;  // keys of the current section
  bool skip_section = false;

  void error(int at, const std::string& msg) {
    errors->push_back(file + ":" + std::to_string(at) + ": " + msg);
    last_error_line = at;
  }
  Limits& limits() { return route ? route->limits : config->limits; }
};

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool is_token(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?={}", c)) return false;
  return true;
}

// Reads an unsigned decimal prefix; returns the rest in `suffix`.
bool parse_number(const std::string& s, uint64_t& n, std::string& suffix) {
  size_t i = 0;
  n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (n > (UINT64_MAX - 9) / 10) return false;
    n = n * 10 + (s[i++] - '0');
  }
  if (i == 0) return false;
  suffix = s.substr(i);
  return true;
}

bool set_duration(const std::string& v, uint64_t& field, std::string& err) {
  if (!parse_duration(v, field)) {
    err =
        "bad duration \"" + v + "\"; write a number with ms, s, m or h (a bare number is seconds)";
    return false;
  }
  return true;
}

bool set_handshake_timeout(Parser& p, const std::string& v, std::string& err) {
  if (!set_duration(v, p.limits().handshake_timeout_ms, err)) return false;
  if (p.limits().handshake_timeout_ms == 0) {
    err = "handshake_timeout must be more than 0";
    return false;
  }
  return true;
}
bool set_idle_timeout(Parser& p, const std::string& v, std::string& err) {
  return set_duration(v, p.limits().idle_timeout_ms, err);
}
bool set_ping_interval(Parser& p, const std::string& v, std::string& err) {
  return set_duration(v, p.limits().ping_interval_ms, err);
}
bool set_connect_timeout(Parser& p, const std::string& v, std::string& err) {
  if (!set_duration(v, p.limits().connect_timeout_ms, err)) return false;
  if (p.limits().connect_timeout_ms == 0) {
    err = "connect_timeout must be more than 0";
    return false;
  }
  return true;
}
bool set_max_message_size(Parser& p, const std::string& v, std::string& err) {
  uint64_t n;
  if (!parse_size(v, n) || n == 0 || n > (uint64_t{1} << 40)) {
    err =
        "bad size \"" + v + "\"; write a number of bytes from 1 to 1024G, with k, M or G if wanted";
    return false;
  }
  p.limits().max_message_size = n;
  return true;
}

int sockaddr_port(const ListenAddr& a) {
  const sockaddr* sa = reinterpret_cast<const sockaddr*>(&a.addr);
  if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
}

bool set_listen(Parser& p, const std::string& v, std::string& err) {
  ListenAddr a;
  a.text = v;
  a.addrlen = sizeof a.addr;
  if (evutil_parse_sockaddr_port(v.c_str(), reinterpret_cast<sockaddr*>(&a.addr), &a.addrlen) !=
          0 ||
      v.find(':') == std::string::npos || v.back() == ']' || sockaddr_port(a) == 0) {
    err = "bad listen address \"" + v + "\"; write IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:8080";
    return false;
  }
  for (const ListenAddr& other : p.config->listen)
    if (other.addrlen == a.addrlen && memcmp(&other.addr, &a.addr, a.addrlen) == 0) {
      err = "listen address " + v + " is given twice; remove one";
      return false;
    }
  p.config->listen.push_back(a);
  return true;
}

bool set_workers(Parser& p, const std::string& v, std::string& err) {
  if (v == "auto") {
    unsigned n = std::thread::hardware_concurrency();
    p.config->workers = n ? static_cast<int>(n) : 1;
    return true;
  }
  uint64_t n;
  std::string rest;
  if (!parse_number(v, n, rest) || !rest.empty() || n < 1 || n > 256) {
    err = "bad workers \"" + v + "\"; write a number from 1 to 256, or auto";
    return false;
  }
  p.config->workers = static_cast<int>(n);
  return true;
}

bool set_log_level(Parser& p, const std::string& v, std::string& err) {
  if (parse_log_level(v, p.config->log_level)) return true;
  err = "bad log_level \"" + v + "\"; write error, warn, info or debug";
  return false;
}

bool set_error_log(Parser& p, const std::string& v, std::string& err) {
  if (v.empty() || v == "off") {
    err = "error_log cannot be off; write stderr, syslog or a file path";
    return false;
  }
  p.config->error_log = v;
  return true;
}

bool set_access_log(Parser& p, const std::string& v, std::string& err) {
  if (v.empty()) {
    err = "access_log is empty; write off, stderr or a file path";
    return false;
  }
  p.config->access_log = v;
  return true;
}

bool set_max_connections(Parser& p, const std::string& v, std::string& err) {
  uint64_t n;
  std::string rest;
  if (!parse_number(v, n, rest) || !rest.empty() || n < 1 || n > 10000000) {
    err = "bad max_connections \"" + v + "\"; write a number from 1 to 10000000";
    return false;
  }
  p.config->max_connections = n;
  return true;
}

// glibc's regcomp can need gigabytes for stacked repetition ("a++++", "(a{99}){99}"):
// refuse adjacent repetition operators (undefined in POSIX ERE) and large {m,n} products.
bool regex_too_complex(const std::string& re) {
  uint64_t product = 1;
  bool after_repeat = false;
  for (size_t i = 0; i < re.size(); i++) {
    char c = re[i];
    if (c == '\\') {
      i++;
      after_repeat = false;
    } else if (c == '[') {
      size_t j = i + 1;
      if (j < re.size() && re[j] == '^') j++;
      if (j < re.size() && re[j] == ']') j++;
      while (j < re.size() && re[j] != ']') j++;
      i = j;
      after_repeat = false;
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
      if (after_repeat) return true;
      after_repeat = true;
      if (c != '{') continue;
      uint64_t bound = 0;
      for (i++; i < re.size() && re[i] != '}'; i++)
        if (re[i] >= '0' && re[i] <= '9')
          bound = std::min<uint64_t>(bound * 10 + (re[i] - '0'), 100000);
        else
          bound = 0;  // after the comma: the upper bound counts
      product *= std::max<uint64_t>(bound, 1);
      if (product > 1000) return true;
    } else {
      after_repeat = false;
    }
  }
  return false;
}

bool set_path(Parser& p, const std::string& v, std::string& err) {
  if (v.size() > 1 && v[0] == '~') {
    std::string re = trim(v.substr(1));
    if (regex_too_complex(re)) {
      err = "regular expression \"" + re +
            "\" is too complex (stacked repetition such as \"++\" "
            "or {m,n} counts multiplying past 1000); simplify it";
      return false;
    }
    regex_t rx;
    int rc = regcomp(&rx, re.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      char msg[256];
      regerror(rc, &rx, msg, sizeof msg);
      err = "bad regular expression \"" + re + "\": " + msg;
      return false;
    }
    regfree(&rx);
    p.route->path = "~ " + re;
  } else if (!v.empty() && v[0] == '/') {
    if (v.find('*') != std::string::npos && (v.back() != '*' || v.find('*') != v.size() - 1)) {
      err = "bad path \"" + v + "\"; a prefix path has one * at the end, e.g. /vnc/*";
      return false;
    }
    p.route->path = v;
  } else {
    err = "bad path \"" + v + "\"; write /exact, /prefix/* or ~ REGEX";
    return false;
  }
  p.route->path_line = p.line;
  return true;
}

// Splits "HOST:PORT" or "[V6]:PORT" (port optional when default_port is set).
bool parse_host_port(std::string hp, int default_port, std::string& host, int& port) {
  size_t colon = hp.rfind(':');
  size_t bracket = hp.rfind(']');
  std::string port_text;
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    port_text = hp.substr(colon + 1);
    hp.resize(colon);
  }
  if (hp.size() > 2 && hp.front() == '[' && hp.back() == ']') hp = hp.substr(1, hp.size() - 2);
  if (hp.empty() || hp.find_first_of("[]/") != std::string::npos) return false;
  uint64_t n = static_cast<uint64_t>(default_port);
  std::string rest;
  if (!port_text.empty() || default_port == 0)
    if (!parse_number(port_text, n, rest) || !rest.empty() || n < 1 || n > 65535) return false;
  host = hp;
  port = static_cast<int>(n);
  return true;
}

bool set_backend(Parser& p, const std::string& v, std::string& err) {
  BackendAddr& b = p.route->backend;
  b = BackendAddr();
  b.text = v;
  bool ws = v.compare(0, 5, "ws://") == 0, wss = v.compare(0, 6, "wss://") == 0;
  if (v == "echo") {
    b.kind = BackendAddr::Kind::kEcho;
  } else if (v.compare(0, 5, "unix:") == 0 && v.size() > 5) {
    b.kind = BackendAddr::Kind::kUnix;
    b.path = v.substr(5);
    if (b.path.size() >= sizeof(sockaddr_un::sun_path)) {
      err = "unix socket path is too long (at most 107 bytes)";
      return false;
    }
  } else if (v.compare(0, 6, "tcp://") == 0) {
    b.kind = BackendAddr::Kind::kTcp;
    std::string hp = v.substr(6);
    if (!hp.empty() && hp.back() == '/') hp.pop_back();
    if (!parse_host_port(hp, 0, b.host, b.port)) {
      err = "bad backend \"" + v + "\"; write tcp://HOST:PORT, e.g. tcp://127.0.0.1:7000";
      return false;
    }
  } else if (ws || wss) {
    b.kind = ws ? BackendAddr::Kind::kWs : BackendAddr::Kind::kWss;
    std::string rest = v.substr(ws ? 5 : 6);
    size_t slash = rest.find('/');
    if (slash != std::string::npos) {
      b.path = rest.substr(slash);
      rest.resize(slash);
    }
    bool bad_path = false;
    for (unsigned char c : b.path) bad_path |= c <= 0x20 || c >= 0x7F || c == '?' || c == '#';
    if (bad_path || !parse_host_port(rest, ws ? 80 : 443, b.host, b.port)) {
      err = "bad backend \"" + v +
            "\"; write ws[s]://HOST[:PORT][/PATH], e.g. ws://127.0.0.1:9001/socket";
      return false;
    }
  } else if (v.compare(0, 6, "tls://") == 0) {
    err = "backend \"" + v +
          "\": tls:// backends are not supported yet; use tcp://, ws://, wss://, unix: or echo";
    return false;
  } else {
    err = "bad backend \"" + v +
          "\"; write tcp://HOST:PORT, ws://HOST[:PORT][/PATH], unix:/PATH or echo";
    return false;
  }
  p.route->has_backend = true;
  return true;
}

bool parse_switch(const std::string& key, const std::string& v, bool& out, std::string& err) {
  if (v == "on" || v == "off") {
    out = v == "on";
    return true;
  }
  err = "bad " + key + " \"" + v + "\"; write on or off";
  return false;
}

bool set_forwarded(Parser& p, const std::string& v, std::string& err) {
  return parse_switch("forwarded", v, p.route->forwarded, err);
}

bool set_tls_verify(Parser& p, const std::string& v, std::string& err) {
  return parse_switch("tls_verify", v, p.route->tls_verify, err);
}

bool set_tls_ca(Parser& p, const std::string& v, std::string& err) {
  // Loading it now turns a bad file into an error with its line, not a failure per connection.
  SSL_CTX* ctx = tls_client_context(true, v, err);
  if (!ctx) return false;
  SSL_CTX_free(ctx);
  p.route->tls_ca = v;
  return true;
}

bool set_type(Parser& p, const std::string& v, std::string& err) {
  if (v == "text") {
    p.route->type = MessageType::kText;
  } else if (v == "binary") {
    p.route->type = MessageType::kBinary;
  } else {
    err = "bad type \"" + v + "\"; write text or binary";
    return false;
  }
  return true;
}

bool set_protocols(Parser& p, const std::string& v, std::string& err) {
  p.route->protocols = split_list(v);
  for (const std::string& proto : p.route->protocols)
    if (!is_token(proto)) {
      err = "bad subprotocol \"" + proto + "\"; protocols is a comma-separated list of HTTP tokens";
      return false;
    }
  return true;
}

bool set_origins(Parser& p, const std::string& v, std::string& err) {
  p.route->origins = split_list(v);
  for (std::string& o : p.route->origins) {
    size_t scheme = o.find("://");
    if (scheme == std::string::npos || scheme == 0 || o.size() == scheme + 3 || o.back() == '/') {
      err = "bad origin \"" + o + "\"; write SCHEME://HOST[:PORT], e.g. https://*.example.com";
      return false;
    }
    for (char& c : o) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  }
  return true;
}

// Every key wsgate knows. Docs: man/wsgate.8 and conf/wsgate.ini.
const Option kOptions[] = {
    {"listen", kServer, true, set_listen},
    {"workers", kServer, false, set_workers},
    {"log_level", kServer, false, set_log_level},
    {"error_log", kServer, false, set_error_log},
    {"access_log", kServer, false, set_access_log},
    {"max_connections", kServer, false, set_max_connections},
    {"handshake_timeout", kBoth, false, set_handshake_timeout},
    {"idle_timeout", kBoth, false, set_idle_timeout},
    {"ping_interval", kBoth, false, set_ping_interval},
    {"max_message_size", kBoth, false, set_max_message_size},
    {"connect_timeout", kBoth, false, set_connect_timeout},
    {"path", kRoute, false, set_path},
    {"backend", kRoute, false, set_backend},
    {"type", kRoute, false, set_type},
    {"protocols", kRoute, false, set_protocols},
    {"origins", kRoute, false, set_origins},
    {"forwarded", kRoute, false, set_forwarded},
    {"tls_verify", kRoute, false, set_tls_verify},
    {"tls_ca", kRoute, false, set_tls_ca},
};

std::string known_keys(int scope) {
  std::string s;
  for (const Option& o : kOptions)
    if (o.scope & scope) s += (s.empty() ? "" : ", ") + std::string(o.name);
  return s;
}

// Starts a section seen by the line reader, so that empty sections are checked too.
void begin_section(Parser& p, const std::string& header) {
  p.seen.clear();
  p.in_server = false;
  p.route = nullptr;
  p.skip_section = false;
  std::string name = trim(header);
  if (name == "server") {
    p.in_server = true;
    return;
  }
  if (name.compare(0, 5, "route") == 0 && (name.size() == 5 || name[5] == ' ' || name[5] == '\t')) {
    std::string rname = trim(name.substr(5));
    if (rname.empty()) {
      p.error(p.line, "[route] needs a name, e.g. [route echo]");
      rname = "line" + std::to_string(p.line);
    }
    for (const RouteConfig& r : p.config->routes)
      if (r.name == rname)
        p.error(p.line, "route \"" + rname + "\" is defined twice (first at line " +
                            std::to_string(r.line) + "); rename one");
    p.config->routes.emplace_back();
    p.route_keys.emplace_back();
    p.route = &p.config->routes.back();
    p.route->name = rname;
    p.route->line = p.line;
    return;
  }
  p.error(p.line, "unknown section [" + name + "]; sections are [server] and [route NAME]");
  p.skip_section = true;
}

// inih's line source: tracks line numbers and sections, strips indentation and '#' comments.
char* read_line(char* str, int num, void* stream) {
  Parser& p = *static_cast<Parser*>(stream);
  if (p.p >= p.end) return nullptr;
  const char* nl = static_cast<const char*>(memchr(p.p, '\n', p.end - p.p));
  const char* stop = nl ? nl : p.end;
  std::string line(p.p, stop);
  p.p = nl ? nl + 1 : p.end;
  p.line++;
  size_t start = line.find_first_not_of(" \t");
  line = start == std::string::npos ? "" : line.substr(start);
  for (size_t i = 1; i < line.size(); i++)
    if (line[i] == '#' && (line[i - 1] == ' ' || line[i - 1] == '\t')) {
      line.resize(i);
      break;
    }
  if (!line.empty() && line[0] != ';' && line[0] != '#') {
    if (line[0] == '[') {
      size_t close = line.find(']');
      if (close != std::string::npos) begin_section(p, line.substr(1, close - 1));
    } else if (line.find('=') == std::string::npos) {
      p.error(p.line, "expected KEY = VALUE, [server] or [route NAME]");
      line = "";
    }
  }
  if (static_cast<int>(line.size()) > kMaxLine || static_cast<int>(line.size()) >= num - 1) {
    p.error(p.line, "line is longer than " + std::to_string(kMaxLine) + " bytes; shorten it");
    line = "";
  }
  memcpy(str, line.c_str(), line.size() + 1);
  return str;
}

// inih's callback for each KEY = VALUE.
int handle_pair(void* user, const char* /*section*/, const char* name, const char* value) {
  Parser& p = *static_cast<Parser*>(user);
  if (p.skip_section) return 1;
  std::string key = name;
  if (!p.in_server && !p.route) {
    p.error(p.line,
            "\"" + key + "\" is outside any section; put it under [server] or [route NAME]");
    return 1;
  }
  int scope = p.in_server ? kServer : kRoute;
  const Option* opt = nullptr;
  for (const Option& o : kOptions)
    if (key == o.name && (o.scope & scope)) opt = &o;
  if (!opt) {
    p.error(p.line, "unknown key \"" + key + "\" in " +
                        (p.in_server ? "[server]" : "[route " + p.route->name + "]") +
                        "; known keys: " + known_keys(scope));
    return 1;
  }
  if (!opt->repeatable && !p.seen.insert(key).second) {
    p.error(p.line, "\"" + key + "\" is set twice in this section; keep one");
    return 1;
  }
  if (p.route) p.route_keys.back().insert(key);
  std::string err;
  if (!opt->set(p, trim(value), err)) p.error(p.line, err);
  return 1;
}

// Whole-file checks once every line is read.
void finish(Parser& p) {
  Config& c = *p.config;
  if (c.listen.empty()) {
    std::string err;
    set_listen(p, "127.0.0.1:8080", err);
  }
  if (c.routes.empty())
    p.error(p.line ? p.line : 1, "no routes; add a [route NAME] section with path and backend");
  std::map<std::string, int> paths;
  for (size_t i = 0; i < c.routes.size(); i++) {
    RouteConfig& r = c.routes[i];
    const std::set<std::string>& keys = p.route_keys[i];
    // A key whose value was wrong has had its error already.
    if (!keys.count("path"))
      p.error(r.line, "[route " + r.name + "] has no path; add e.g. path = /" + r.name);
    if (!keys.count("backend"))
      p.error(r.line,
              "[route " + r.name + "] has no backend; add e.g. backend = tcp://127.0.0.1:7000");
    if (!r.path.empty()) {
      auto [it, fresh] = paths.emplace(r.path, r.path_line);
      if (!fresh)
        p.error(r.path_line, "path " + r.path + " is already routed at line " +
                                 std::to_string(it->second) + "; each path belongs to one route");
    }
    if ((keys.count("tls_verify") || keys.count("tls_ca")) &&
        r.backend.kind != BackendAddr::Kind::kWss && keys.count("backend"))
      p.error(r.line, "[route " + r.name +
                          "] sets tls_verify or tls_ca, which only apply to wss:// backends");
    if (keys.count("forwarded") && !r.backend.websocket() && keys.count("backend"))
      p.error(r.line, "[route " + r.name +
                          "] sets forwarded, which only applies to ws:// and wss:// backends");
    Limits& l = r.limits;
    if (!keys.count("handshake_timeout")) l.handshake_timeout_ms = c.limits.handshake_timeout_ms;
    if (!keys.count("idle_timeout")) l.idle_timeout_ms = c.limits.idle_timeout_ms;
    if (!keys.count("ping_interval")) l.ping_interval_ms = c.limits.ping_interval_ms;
    if (!keys.count("max_message_size")) l.max_message_size = c.limits.max_message_size;
    if (!keys.count("connect_timeout")) l.connect_timeout_ms = c.limits.connect_timeout_ms;
  }
}

}  // namespace

bool parse_size(const std::string& s, uint64_t& out) {
  uint64_t n;
  std::string suffix;
  if (!parse_number(s, n, suffix)) return false;
  int shift = 0;
  if (suffix.empty())
    shift = 0;
  else if (suffix == "k" || suffix == "K")
    shift = 10;
  else if (suffix == "m" || suffix == "M")
    shift = 20;
  else if (suffix == "g" || suffix == "G")
    shift = 30;
  else
    return false;
  if (n > (UINT64_MAX >> shift)) return false;
  out = n << shift;
  return true;
}

bool parse_duration(const std::string& s, uint64_t& out_ms) {
  uint64_t n;
  std::string suffix;
  if (!parse_number(s, n, suffix)) return false;
  uint64_t scale;
  if (suffix == "ms")
    scale = 1;
  else if (suffix.empty() || suffix == "s")
    scale = 1000;
  else if (suffix == "m")
    scale = 60 * 1000;
  else if (suffix == "h")
    scale = 3600 * 1000;
  else
    return false;
  if (n > UINT64_MAX / scale / 1000) return false;
  out_ms = n * scale;
  return true;
}

bool config_parse(const std::string& text, const std::string& name, Config& out,
                  std::vector<std::string>& errors) {
  out = Config();
  out.file = name;
  Parser p;
  p.file = name;
  p.config = &out;
  p.errors = &errors;
  p.p = text.data();
  p.end = text.data() + text.size();
  size_t before = errors.size();
  int rc = ini_parse_stream(read_line, &p, handle_pair, &p);
  if (rc > 0 && rc != p.last_error_line)
    p.error(rc, "syntax error; expected KEY = VALUE, [server] or [route NAME]");
  finish(p);
  return errors.size() == before;
}

bool config_load(const std::string& path, Config& out, std::vector<std::string>& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back(path + ":0: cannot read: " + strerror(errno));
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return config_parse(ss.str(), path, out, errors);
}
