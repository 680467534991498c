#include "runtime.h"

#include <optional>
#include <utility>

#include <openssl/ssl.h>

void SslCtxFree::operator()(SSL_CTX* ctx) const {
  SSL_CTX_free(ctx);
}

// The config is copied in, so the Runtime owns all it serves.
std::shared_ptr<const Runtime> build_runtime(const Config& config,
                                             std::vector<std::string>& errors) {
  std::unique_ptr<SSL_CTX, SslCtxFree> server_tls;
  bool any_tls = false;
  for (const ListenAddr& a : config.listen) any_tls = any_tls || a.tls;
  if (any_tls) {
    std::string err;
    server_tls.reset(tls_server_context(config.tls_cert, config.tls_key, err));
    if (!server_tls)
      errors.push_back(config.file + ":" + std::to_string(config.tls_line) + ": " + err);
  }
  std::optional<Router> router = Router::build(config, errors);
  if (!router || (any_tls && !server_tls)) return nullptr;
  return std::make_shared<const Runtime>(
      Runtime{config, std::move(*router), std::move(server_tls)});
}
