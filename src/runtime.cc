#include "runtime.h"

#include <optional>
#include <utility>

// The config is copied in, so the Runtime owns all it serves.
std::shared_ptr<const Runtime> build_runtime(const Config& config,
                                             std::vector<std::string>& errors) {
  std::unique_ptr<const TlsServer> tls_server;
  bool any_tls = false;
  for (const ListenAddr& a : config.listen) any_tls = any_tls || a.tls;
  if (any_tls) tls_server = TlsServer::build(config, errors);
  std::optional<Router> router = Router::build(config, errors);
  if (!router || (any_tls && !tls_server)) return nullptr;
  CidrSet proxies;
  std::string err;
  for (const std::string& item : config.trusted_proxies)
    if (!proxies.add(item, err)) {
      errors.push_back(config.file + ":" + std::to_string(config.line_of("trusted_proxies")) +
                       ": " + err);
      return nullptr;
    }
  ClientLimitSettings per_ip = client_limit_settings(config);
  // The table outlives reloads, so sessions admitted under an older config release into it.
  std::shared_ptr<ClientLimits> table =
      per_ip.enabled() ? shared_client_limits(config.per_ip_table_size) : nullptr;
  return std::make_shared<const Runtime>(Runtime{config, std::move(*router), std::move(tls_server),
                                                 per_ip, std::move(table), std::move(proxies)});
}
