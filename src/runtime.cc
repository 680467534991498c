#include "runtime.h"

#include <optional>
#include <utility>

// The config is copied in, so the Runtime owns all it serves.
std::shared_ptr<const Runtime> build_runtime(const Config& config,
                                             std::vector<std::string>& errors) {
  std::optional<Router> router = Router::build(config, errors);
  if (!router) return nullptr;
  return std::make_shared<const Runtime>(Runtime{config, std::move(*router)});
}
