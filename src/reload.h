// SIGHUP: the configuration file read and checked again, and swapped into every worker without
// dropping a connection. New connections get the new routes; live sessions keep the ones
// they started with until they end.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config.h"

class Worker;

// What the workers serve: the file it came from, its checked Config, and its generation
// (1 at start, one more for each reload that took effect).
struct Serving {
  std::string path;
  Config config;
  uint64_t generation = 1;
  bool level_forced = false;  // -d or -l: log_level in the file does not apply
};

// Reads s.path again; if it checks, builds and loads, and its new listeners can be bound,
// hands the new Runtime to every worker and returns true. Otherwise logs why (FILE:LINE
// errors) and changes nothing. A changed worker count is refused as a whole.
bool reload(Serving& s, std::vector<std::unique_ptr<Worker>>& workers);
