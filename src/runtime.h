// What the workers serve: a checked configuration and its compiled routes, built once and
// shared read-only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cidr.h"
#include "client_limits.h"
#include "config.h"
#include "route.h"
#include "tls_server.h"

struct Runtime {
  Config config;
  Router router;
  // For tls listeners; null when there are none.
  std::unique_ptr<const TlsServer> tls_server;
  // Per-client limits: this config's, counted in the process' table (null when they are off).
  ClientLimitSettings per_ip;
  std::shared_ptr<ClientLimits> client_limits;
  // trusted_proxies, compiled.
  CidrSet trusted_proxies;
};

// Compiles a checked config into a Runtime. Null, with one "FILE:LINE: message" per
// failure in errors, if it cannot be built (e.g. a route's CA file is gone, or the
// listeners' certificate and key do not load); never exits.
std::shared_ptr<const Runtime> build_runtime(const Config& config,
                                             std::vector<std::string>& errors);
