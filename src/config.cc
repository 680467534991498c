// Reading the INI file: lines, sections and KEY = VALUE pairs handed to the key table, and
// the checks that need the whole file. Errors are "FILE:LINE: message" with a fix.
#include "config.h"

#include <ini.h>
#include <openssl/ssl.h>
#include <string.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config_table.h"
#include "config_values.h"
#include "tls.h"

namespace {

constexpr int kMaxLine = 199;  // inih's INI_MAX_LINE less the terminator

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
  bool in_metrics = false;
  int metrics_line = 0;  // of the first [metrics] header
  RouteConfig* route = nullptr;
  TlsSiteConfig* site = nullptr;
  std::vector<std::set<std::string>> site_keys;  // the keys each [tls] section set
  // The keys each route set explicitly, with their lines, so [server] defaults fill the rest.
  std::vector<std::map<std::string, int>> route_keys;
  std::set<std::string> seen;  // keys of the current section
  bool skip_section = false;

  // Records an error at a line of the file.
  void error(int at, const std::string& msg) {
    errors->push_back(file + ":" + std::to_string(at) + ": " + msg);
    last_error_line = at;
  }
};

// The keys a scope allows, for the unknown-key error.
std::string known_keys(ConfigScope scope) {
  std::string s;
  for (const Option& o : option_table())
    if (in_scope(o, scope)) s += (s.empty() ? "" : ", ") + std::string(o.info.name);
  return s;
}

// Whether `header` is "KIND NAME"; the name goes to `name`. A missing name is an error, and
// stands in as "lineN" so that parsing goes on.
bool named_section(Parser& p, const std::string& header, const std::string& kind,
                   const char* example, std::string& name) {
  size_t n = kind.size();
  if (header.compare(0, n, kind) != 0 ||
      (header.size() != n && header[n] != ' ' && header[n] != '\t'))
    return false;
  name = trim(header.substr(n));
  if (name.empty()) {
    p.error(p.line, "[" + kind + "] needs a name, e.g. [" + kind + " " + example + "]");
    name = "line" + std::to_string(p.line);
  }
  return true;
}

// Starts a section seen by the line reader, so that empty sections are checked too.
void begin_section(Parser& p, const std::string& header) {
  p.seen.clear();
  p.in_server = false;
  p.in_metrics = false;
  p.route = nullptr;
  p.site = nullptr;
  p.skip_section = false;
  std::string name = trim(header);
  if (name == "server") {
    p.in_server = true;
    return;
  }
  if (name == "metrics") {
    if (p.metrics_line)
      p.error(p.line, "[metrics] is given twice (first at line " + std::to_string(p.metrics_line) +
                          "); keep one");
    p.in_metrics = true;
    p.metrics_line = p.metrics_line ? p.metrics_line : p.line;
    return;
  }
  std::string sname;
  if (named_section(p, name, "tls", "example", sname)) {
    for (const TlsSiteConfig& t : p.config->tls_sites)
      if (t.name == sname)
        p.error(p.line, "[tls " + sname + "] is defined twice (first at line " +
                            std::to_string(t.line) + "); rename one");
    p.config->tls_sites.emplace_back();
    p.site_keys.emplace_back();
    p.site = &p.config->tls_sites.back();
    p.site->name = sname;
    p.site->line = p.line;
    return;
  }
  if (named_section(p, name, "route", "echo", sname)) {
    for (const RouteConfig& r : p.config->routes)
      if (r.name == sname)
        p.error(p.line, "route \"" + sname + "\" is defined twice (first at line " +
                            std::to_string(r.line) + "); rename one");
    p.config->routes.emplace_back();
    p.route_keys.emplace_back();
    p.route = &p.config->routes.back();
    p.route->name = sname;
    p.route->line = p.line;
    return;
  }
  p.error(p.line, "unknown section [" + name +
                      "]; sections are [server], [route NAME], [tls NAME] and [metrics]");
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
  // A UTF-8 byte order mark, as some Windows editors write, is not part of the first line.
  if (p.line == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
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

// inih's callback for each KEY = VALUE: finds the key's row and lets it parse the value.
int handle_pair(void* user, const char* /*section*/, const char* name, const char* value) {
  Parser& p = *static_cast<Parser*>(user);
  if (p.skip_section) return 1;
  std::string key = name;
  if (!p.in_server && !p.route && !p.site && !p.in_metrics) {
    p.error(p.line,
            "\"" + key + "\" is outside any section; put it under [server] or [route NAME]");
    return 1;
  }
  ConfigScope scope = p.in_server ? ConfigScope::kServer
                      : p.route   ? ConfigScope::kRoute
                      : p.site    ? ConfigScope::kTls
                                  : ConfigScope::kMetrics;
  const Option* opt = find_option(key, scope);
  if (!opt) {
    std::string where = p.in_server ? "[server]"
                        : p.route   ? "[route " + p.route->name + "]"
                        : p.site    ? "[tls " + p.site->name + "]"
                                    : "[metrics]";
    p.error(p.line,
            "unknown key \"" + key + "\" in " + where + "; known keys: " + known_keys(scope));
    return 1;
  }
  if (!opt->info.repeatable && !p.seen.insert(key).second) {
    p.error(p.line, "\"" + key + "\" is set twice in this section; keep one");
    return 1;
  }
  if (p.route) p.route_keys.back().emplace(key, p.line);
  if (p.site) p.site_keys.back().insert(key);
  if (p.in_server) p.config->key_lines.emplace_back(key, p.line);
  Section s{p.config, p.route, p.site};
  std::string err;
  if (!set_option(*opt, s, trim(value), err)) {
    p.error(p.line, err);
  } else if (key == "listen") {
    (p.in_metrics ? p.config->metrics_listen : p.config->listen).back().line = p.line;
  } else if (key == "tls_cert" || (key == "tls_key" && !p.config->tls_line)) {
    p.config->tls_line = p.line;
  }
  return 1;
}

// A tls listener needs both tls_cert and tls_key; one without the other is a mistake too.
void check_tls(Parser& p) {
  const Config& c = *p.config;
  for (const ListenAddr& a : c.listen)
    if (a.tls && (c.tls_cert.empty() || c.tls_key.empty())) {
      p.error(a.line, "listen " + a.text +
                          " tls needs a certificate; set tls_cert = CHAIN.pem and tls_key = "
                          "KEY.pem in [server], or drop tls");
      return;
    }
  if (c.tls_cert.empty() != c.tls_key.empty())
    p.error(c.tls_line, std::string("tls_cert and tls_key go together; set ") +
                            (c.tls_cert.empty() ? "tls_cert" : "tls_key") + " as well");
  if (c.tls_verify_client != ClientVerify::kOff && c.tls_client_ca.empty())
    p.error(c.line_of("tls_verify_client"),
            "tls_verify_client needs the CAs to check client certificates against; set "
            "tls_client_ca = CA.pem");
  std::map<std::string, int> names;
  for (size_t i = 0; i < c.tls_sites.size(); i++) {
    const TlsSiteConfig& t = c.tls_sites[i];
    for (const char* k : {"names", "cert", "key"})
      if (!p.site_keys[i].count(k))
        p.error(t.line, "[tls " + t.name + "] has no " + k + "; a [tls] section needs names, " +
                            "cert and key");
    for (const std::string& n : t.names) {
      auto [it, fresh] = names.emplace(n, t.line);
      if (!fresh)
        p.error(t.line, "name " + n + " is already served by the [tls] section at line " +
                            std::to_string(it->second) + "; each name belongs to one certificate");
    }
  }
}

// The TLS keys of a route toward its backend: only where the backend speaks TLS, the client
// certificate and key as a pair, and loaded now, so that a bad file is an error at its line
// rather than a 502 for every client.
void check_backend_tls(Parser& p, const RouteConfig& r, const std::map<std::string, int>& keys) {
  static const char* const kTlsKeys[] = {"tls_verify", "tls_ca", "tls_client_cert",
                                         "tls_client_key"};
  if (!r.backend.tls()) {
    for (const char* k : kTlsKeys)
      if (keys.count(k))
        p.error(keys.at(k), "[route " + r.name + "] sets " + k +
                                ", which only applies to tls:// and wss:// backends; remove it or "
                                "use tls://HOST:PORT or wss://");
    return;
  }
  // An empty value counts as unset, as it does when the route is built.
  bool cert = !r.tls_client_cert.empty(), key = !r.tls_client_key.empty();
  if (cert != key) {
    p.error(keys.at(cert ? "tls_client_cert" : "tls_client_key"),
            std::string("tls_client_cert and tls_client_key go together; set ") +
                (cert ? "tls_client_key" : "tls_client_cert") + " as well");
    return;
  }
  if (!cert) return;
  std::string err;
  SSL_CTX* ctx = tls_client_context(false, "", err);
  bool key_at_fault = false;
  if (ctx && !tls_use_identity(ctx, r.tls_client_cert, r.tls_client_key, "tls_client_cert",
                               "tls_client_key", err, &key_at_fault))
    p.error(keys.at(key_at_fault ? "tls_client_key" : "tls_client_cert"), err);
  else if (!ctx)
    p.error(keys.at("tls_client_cert"), err);
  SSL_CTX_free(ctx);
}

// Whole-file checks once every line is read, and [server] values for what routes left unset.
void finish(Parser& p) {
  Config& c = *p.config;
  Section server{&c, nullptr};
  std::string err;
  const Option* listen = find_option("listen", ConfigScope::kServer);
  if (c.listen.empty()) set_option(*listen, server, listen->info.default_text, err);
  check_tls(p);
  for (const ListenAddr& m : c.metrics_listen)
    for (const ListenAddr& a : c.listen)
      if (a.addrlen == m.addrlen && memcmp(&a.addr, &m.addr, m.addrlen) == 0)
        p.error(m.line, "[metrics] listen " + m.text +
                            " is also a [server] listen address; give the metrics another port");
  if (c.routes.empty())
    p.error(p.line ? p.line : 1, "no routes; add a [route NAME] section with path and backend");
  std::map<std::string, int> paths;
  for (size_t i = 0; i < c.routes.size(); i++) {
    RouteConfig& r = c.routes[i];
    const std::map<std::string, int>& keys = p.route_keys[i];
    // A key whose value was wrong has had its error already.
    if (!keys.count("path"))
      p.error(r.line, "[route " + r.name + "] has no path; add e.g. path = /" + r.name);
    if (!keys.count("backend"))
      p.error(r.line,
              "[route " + r.name + "] has no backend; add e.g. backend = tcp://127.0.0.1:7000");
    if (!r.path.empty()) {
      r.path_line = keys.at("path");
      auto [it, fresh] = paths.emplace(r.path, r.path_line);
      if (!fresh)
        p.error(r.path_line, "path " + r.path + " is already routed at line " +
                                 std::to_string(it->second) + "; each path belongs to one route");
    }
    if (keys.count("backend")) check_backend_tls(p, r, keys);
    if (keys.count("forwarded") && !r.backend.websocket() && keys.count("backend"))
      p.error(r.line, "[route " + r.name +
                          "] sets forwarded, which only applies to ws:// and wss:// backends");
    if (keys.count("proxy_protocol") && keys.count("backend") &&
        r.backend.kind == BackendAddr::Kind::kEcho && r.proxy_protocol != ProxyProtocol::kOff)
      p.error(
          keys.at("proxy_protocol"),
          "[route " + r.name + "] sets proxy_protocol, but its backend is the built-in echo, " +
              "which has no connection to send a header on; remove it or set proxy_protocol = off");
    for (const Option& o : option_table()) {
      auto limit = std::get_if<uint64_t Limits::*>(&o.field);
      if (limit && !keys.count(o.info.name)) r.limits.** limit = c.limits.**limit;
    }
  }
}

}  // namespace

// inih reads pairs; read_line feeds it lines and catches what it cannot report.
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

// An unreadable file is an error at line 0.
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
