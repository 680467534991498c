#include "route.h"

#include <openssl/ssl.h>
#include <strings.h>

#include "handshake.h"

namespace {

// An Origin as RFC 6454 writes it: SCHEME "://" HOST [":" PORT] and nothing else, the host
// a DNS name or a bracketed IPv6 address. Anything more ("#", "@", a path) is no origin.
struct Origin {
  std::string_view scheme, host, port;
};

// Splits `s` into an Origin; false if it is not one. The part after "://" is what a Host
// header may hold (valid_host), a pattern's "*." aside, with no empty label.
bool parse_origin(std::string_view s, Origin& o) {
  size_t sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  o.scheme = s.substr(0, sep);
  std::string_view rest = s.substr(sep + 3);
  bool wild = rest.compare(0, 2, "*.") == 0;
  if (!valid_host(wild ? rest.substr(2) : rest)) return false;
  size_t colon = rest.rfind(':'), close = rest.rfind(']');
  bool has_port =
      colon != std::string_view::npos && (close == std::string_view::npos || colon > close);
  o.host = has_port ? rest.substr(0, colon) : rest;
  o.port = has_port ? rest.substr(colon + 1) : std::string_view();
  return o.host[0] == '[' || (o.host.front() != '.' && o.host.back() != '.' &&
                              o.host.find("..") == std::string_view::npos);
}

// Matches an origin against a pattern whose host may start with "*." (one or more labels):
// scheme and port must be equal, and the host equal or, for "*.", end in "." and the rest.
bool origin_matches(std::string_view pattern, std::string_view origin) {
  Origin p, o;
  if (!parse_origin(pattern, p) || !parse_origin(origin, o)) return false;
  if (o.host.find('*') != std::string_view::npos) return false;
  if (!iequals(p.scheme, o.scheme) || p.port != o.port) return false;
  if (p.host.compare(0, 2, "*.") != 0) return iequals(p.host, o.host);
  std::string_view suffix = p.host.substr(1);  // ".example.com"
  return o.host.size() > suffix.size() &&
         iequals(o.host.substr(o.host.size() - suffix.size()), suffix);
}

}  // namespace

// Holds the config; build() adds the parts that can fail.
Route::Route(const RouteConfig& rc) : rc_(rc), pipeline_(rc) {}

// The TLS context and regex are made once here, not per connection.
std::unique_ptr<Route> Route::build(const RouteConfig& rc, std::string& err) {
  std::unique_ptr<Route> r(new Route(rc));
  if (rc.backend.tls()) {
    r->tls_ = tls_client_context(rc.tls_verify, rc.tls_ca, err);
    if (!r->tls_) return nullptr;
    if (!rc.tls_client_cert.empty() &&
        !tls_use_identity(r->tls_, rc.tls_client_cert, rc.tls_client_key, "tls_client_cert",
                          "tls_client_key", err))
      return nullptr;
  }
  if (rc.path.empty()) {
    err = "no path";
    return nullptr;
  }
  if (rc.path[0] == '~') {
    r->pattern_ = rc.path.size() > 2 ? rc.path.substr(2) : "";
    int code = regcomp(&r->regex_, r->pattern_.c_str(), REG_EXTENDED | REG_NOSUB);
    if (code != 0) {
      char msg[256];
      regerror(code, &r->regex_, msg, sizeof msg);
      err = "bad regular expression \"" + r->pattern_ + "\": " + msg;
      return nullptr;
    }
    r->match_ = Match::kRegex;  // only now is there a regex to free
  } else if (rc.path.back() == '*') {
    r->match_ = Match::kPrefix;
    r->pattern_ = rc.path.substr(0, rc.path.size() - 1);
  } else {
    r->match_ = Match::kExact;
    r->pattern_ = rc.path;
  }
  return r;
}

Route::~Route() {
  if (match_ == Match::kRegex) regfree(&regex_);
  if (tls_) SSL_CTX_free(tls_);
}

bool Route::matches(std::string_view path) const {
  switch (match_) {
    case Match::kExact:
      return path == pattern_;
    case Match::kPrefix:
      return path.substr(0, pattern_.size()) == pattern_;
    case Match::kRegex:
      return regexec(&regex_, std::string(path).c_str(), 0, nullptr, 0) == 0;
  }
  return false;
}

bool Route::origin_allowed(std::string_view origin) const {
  if (rc_.origins.empty()) return true;
  for (const std::string& pattern : rc_.origins)
    if (origin_matches(pattern, origin)) return true;
  return false;
}

std::string_view Route::select_protocol(const std::vector<std::string_view>& offered,
                                        bool hybi00) const {
  bool bridge = rc_.backend.bridge();
  for (std::string_view p : offered) {
    // A hybi-00 client cannot get binary frames, so it is never told it has them.
    if (bridge && hybi00 && p == "binary") continue;
    if (rc_.protocols.empty() && bridge && (p == "base64" || p == "binary")) return p;
    for (const std::string& mine : rc_.protocols)
      if (p == mine) return p;
  }
  return {};
}

// Goes on after a failure so that every bad route is reported at once.
std::optional<Router> Router::build(const Config& config, std::vector<std::string>& errors) {
  Router router;
  size_t before = errors.size();
  for (const RouteConfig& rc : config.routes) {
    std::string err;
    if (std::unique_ptr<Route> r = Route::build(rc, err)) {
      r->index_ = router.routes_.size();
      router.routes_.push_back(std::move(r));
    } else {
      errors.push_back(config.file + ":" + std::to_string(rc.line) + ": [route " + rc.name +
                       "] cannot be built: " + err);
    }
  }
  if (errors.size() != before) return std::nullopt;
  return router;
}

const Route* Router::match(std::string_view path) const {
  const Route* best = nullptr;
  for (const auto& r : routes_)
    if (r->match_kind() == Route::Match::kExact && r->matches(path)) return r.get();
  for (const auto& r : routes_)
    if (r->match_kind() == Route::Match::kPrefix && r->matches(path) &&
        (!best || r->prefix_length() > best->prefix_length()))
      best = r.get();
  if (best) return best;
  for (const auto& r : routes_)
    if (r->match_kind() == Route::Match::kRegex && r->matches(path)) return r.get();
  return nullptr;
}
