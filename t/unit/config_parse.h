// Parsing config text in unit tests, and expecting its errors.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config.h"

inline const char kRoute[] = "[route echo]\npath = /echo\nbackend = echo\n";

struct Parsed {
  bool ok = false;
  Config config;
  std::vector<std::string> errors;
};

inline Parsed parse(const std::string& text) {
  Parsed p;
  p.ok = config_parse(text, "test.ini", p.config, p.errors);
  return p;
}

inline Config parse_ok(const std::string& text) {
  Parsed p = parse(text);
  EXPECT_TRUE(p.ok);
  EXPECT_TRUE(p.errors.empty());
  for (const std::string& e : p.errors) ADD_FAILURE() << "unexpected error: " << e;
  return p.config;
}

inline std::string dump(const std::vector<std::string>& errors) {
  std::string s;
  for (const std::string& e : errors) s += "\n  " + e;
  return s;
}

// Expects exactly one error, at `line`, whose message contains `what`.
inline void expect_one_error(const std::string& text, int line, const std::string& what) {
  SCOPED_TRACE(text);
  Parsed p = parse(text);
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.errors.size(), 1u) << dump(p.errors);
  std::string prefix = "test.ini:" + std::to_string(line) + ": ";
  EXPECT_EQ(p.errors[0].compare(0, prefix.size(), prefix), 0) << p.errors[0];
  EXPECT_NE(p.errors[0].find(what), std::string::npos) << p.errors[0];
}

// Expects (among possibly others) an error at `line` containing `what`.
inline void expect_error(const std::string& text, int line, const std::string& what) {
  SCOPED_TRACE(text);
  Parsed p = parse(text);
  EXPECT_FALSE(p.ok);
  std::string prefix = "test.ini:" + std::to_string(line) + ": ";
  bool found = false;
  for (const std::string& e : p.errors)
    found =
        found || (e.compare(0, prefix.size(), prefix) == 0 && e.find(what) != std::string::npos);
  EXPECT_TRUE(found) << "want " << prefix << "..." << what << dump(p.errors);
}
