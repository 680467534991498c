#include "route.h"

#include <openssl/ssl.h>
#include <strings.h>

#include "handshake.h"
#include "log.h"

namespace {

// Matches an origin against a pattern that may start its host with "*." (one or more labels).
bool origin_matches(std::string_view pattern, std::string_view origin) {
  size_t star = pattern.find("://*.");
  if (star == std::string_view::npos) return iequals(pattern, origin);
  std::string_view scheme = pattern.substr(0, star + 3);
  std::string_view suffix = pattern.substr(star + 4);  // ".example.com[:port]"
  if (origin.size() <= scheme.size() + suffix.size()) return false;
  if (!iequals(origin.substr(0, scheme.size()), scheme)) return false;
  if (!iequals(origin.substr(origin.size() - suffix.size()), suffix)) return false;
  std::string_view label =
      origin.substr(scheme.size(), origin.size() - scheme.size() - suffix.size());
  return label.find_first_of(":/") == std::string_view::npos;
}

}  // namespace

Route::Route(const RouteConfig& rc) : rc_(rc), chain_(rc) {
  if (rc.backend.kind == BackendAddr::Kind::kWss) {
    std::string err;
    tls_ = tls_client_context(rc.tls_verify, rc.tls_ca, err);
    if (!tls_) fatalx("route %s: %s", rc.name.c_str(), err.c_str());
  }
  if (rc.path[0] == '~') {
    match_ = Match::kRegex;
    pattern_ = rc.path.substr(2);
    // Checked at config load, so this cannot fail here.
    regcomp(&regex_, pattern_.c_str(), REG_EXTENDED | REG_NOSUB);
  } else if (rc.path.back() == '*') {
    match_ = Match::kPrefix;
    pattern_ = rc.path.substr(0, rc.path.size() - 1);
  } else {
    match_ = Match::kExact;
    pattern_ = rc.path;
  }
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
  bool bridge =
      rc_.backend.kind == BackendAddr::Kind::kTcp || rc_.backend.kind == BackendAddr::Kind::kUnix;
  for (std::string_view p : offered) {
    // A hybi-00 client cannot get binary frames, so it is never told it has them.
    if (bridge && hybi00 && p == "binary") continue;
    if (rc_.protocols.empty() && bridge && (p == "base64" || p == "binary")) return p;
    for (const std::string& mine : rc_.protocols)
      if (p == mine) return p;
  }
  return {};
}

Router::Router(const Config& config) {
  for (const RouteConfig& rc : config.routes) routes_.push_back(std::make_unique<Route>(rc));
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
