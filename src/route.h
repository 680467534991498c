// Routes compiled from the config: matching, subprotocols, origins and the pipeline factory.
#pragma once

#include <regex.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "pipeline.h"
#include "tls.h"

// One [route], immutable once built.
class Route {
 public:
  enum class Match { kExact, kPrefix, kRegex };
  // Compiles a checked route: its TLS context and regex. Null with err if one cannot be
  // built, e.g. a CA file that went away since the config was checked.
  static std::unique_ptr<Route> build(const RouteConfig& rc, std::string& err);
  ~Route();
  Route(const Route&) = delete;
  Route& operator=(const Route&) = delete;

  bool matches(std::string_view path) const;
  // An Origin passes when no origins are configured or one matches (scheme, host, port; "*."
  // wildcard).
  bool origin_allowed(std::string_view origin) const;
  // The first protocol of the client's offer this route accepts, or empty. Bridged routes
  // with no protocols list accept "base64" and "binary"; "binary" never for hybi-00 clients.
  std::string_view select_protocol(const std::vector<std::string_view>& offered,
                                   bool hybi00 = false) const;

  const RouteConfig& config() const { return rc_; }
  const std::string& name() const { return rc_.name; }
  // Its place in the Router, for per-route arrays.
  size_t index() const { return index_; }
  const Limits& limits() const { return rc_.limits; }
  Match match_kind() const { return match_; }
  size_t prefix_length() const { return pattern_.size(); }
  const PipelineFactory& pipeline() const { return pipeline_; }
  // tls:// and wss:// routes: the TLS context every backend connection starts from, with the
  // client certificate if the route has one.
  SSL_CTX* backend_tls() const { return tls_; }

 private:
  // Only build() makes one, so that no half-built route escapes.
  explicit Route(const RouteConfig& rc);
  friend class Router;  // sets index_

  RouteConfig rc_;
  Match match_ = Match::kExact;
  std::string pattern_;  // exact path, or prefix without '*'
  regex_t regex_;
  PipelineFactory pipeline_;
  SSL_CTX* tls_ = nullptr;
  size_t index_ = 0;
};

// All routes: exact paths first, then the longest prefix, then regexes in file order.
class Router {
 public:
  // Compiles every route of a checked config. Empty with one "FILE:LINE: message" per route
  // that cannot be built.
  static std::optional<Router> build(const Config& config, std::vector<std::string>& errors);
  // No routes: matches nothing.
  Router() = default;
  const Route* match(std::string_view path) const;
  const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }

 private:
  std::vector<std::unique_ptr<Route>> routes_;
};
