// Fuzzes the INI configuration parser: any text gets either a config or FILE:LINE errors.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  Config config;
  std::vector<std::string> errors;
  bool ok = config_parse(text, "fuzz.ini", config, errors);
  if (ok != errors.empty()) abort();
  for (const std::string& e : errors)
    if (e.compare(0, 9, "fuzz.ini:") != 0) abort();
  if (ok && (config.routes.empty() || config.listen.empty())) abort();
  return 0;
}
