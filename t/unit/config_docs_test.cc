// The docs against the key table: man/wsgate.8 and conf/wsgate.ini name exactly the keys of
// config_options(), each in the right section, and the man page gives each key's default.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config.h"

namespace {

// The source tree, from the build (Makefile.am); the files are read from there.
const std::string kSrcDir = WSGATE_SRCDIR;
const char kMan[] = "man/wsgate.8";
const char kIni[] = "conf/wsgate.ini";

// A file of the source tree as lines; an empty list fails the test.
std::vector<std::string> read_lines(const std::string& name) {
  std::ifstream in(kSrcDir + "/" + name);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  EXPECT_FALSE(lines.empty()) << "cannot read " << kSrcDir << "/" << name;
  return lines;
}

bool allows_server(const OptionInfo& o) {
  return o.scope != ConfigScope::kRoute;
}
bool allows_route(const OptionInfo& o) {
  return o.scope != ConfigScope::kServer;
}

// The table's row for a key, or null.
const OptionInfo* row(const std::string& key) {
  for (const OptionInfo& o : config_options())
    if (key == o.name) return &o;
  return nullptr;
}

// One key as a doc file mentions it: the section it is under, its line and its text.
struct DocKey {
  bool in_route = false;
  int line = 0;
  std::string text;  // the man page: the item up to the next key; the ini: the line
};

// The man page's keys: ".It Ic KEY No = ..." items under CONFIGURATION, in [server] or
// [route NAME].
std::map<std::string, DocKey> man_keys() {
  std::vector<std::string> lines = read_lines(kMan);
  std::map<std::string, DocKey> keys;
  static const std::regex item(R"(^\.It Ic ([a-z_][a-z0-9_]*) No = )");
  bool in_config = false, in_route = false;
  DocKey* current = nullptr;
  for (size_t i = 0; i < lines.size(); i++) {
    const std::string& l = lines[i];
    if (l.compare(0, 4, ".Sh ") == 0) in_config = l == ".Sh CONFIGURATION";
    if (!in_config) {
      current = nullptr;
      continue;
    }
    if (l.compare(0, 4, ".Ss ") == 0) {
      in_route = l.find("[route") != std::string::npos;
      current = nullptr;
    }
    std::smatch m;
    if (std::regex_search(l, m, item)) {
      EXPECT_EQ(keys.count(m[1]), 0u) << kMan << ":" << i + 1 << ": " << m[1] << " again";
      current = &keys[m[1]];
      *current = {in_route, static_cast<int>(i + 1), ""};
    }
    if (current) current->text += l + "\n";
  }
  return keys;
}

// The sample's keys: "KEY =" lines, set or commented out with ';' or '#', under [server] or
// a (possibly commented) [route NAME].
std::multimap<std::string, DocKey> ini_keys() {
  std::vector<std::string> lines = read_lines(kIni);
  std::multimap<std::string, DocKey> keys;
  static const std::regex section(R"(^\s*[;#]?\s*\[(\w+))");
  static const std::regex key(R"(^\s*[;#]?\s*([a-z_][a-z0-9_]*)\s*=)");
  bool in_route = false;
  for (size_t i = 0; i < lines.size(); i++) {
    std::smatch m;
    if (std::regex_search(lines[i], m, section)) in_route = m[1] == "route";
    if (std::regex_search(lines[i], m, key))
      keys.emplace(m[1], DocKey{in_route, static_cast<int>(i + 1), lines[i]});
  }
  return keys;
}

// What a man page item gives as its default: "Required", the word after "Default:" on its
// line, or the argument of the macro line after it (".Li 10s ." -> "10s"); "" if none.
std::string man_default(const std::string& item) {
  if (item.find("\nRequired.\n") != std::string::npos) return "Required";
  size_t at = item.find("Default:");
  if (at == std::string::npos) return "";
  std::istringstream rest(item.substr(at + 8));
  std::string word;
  rest >> word;
  if (word == ".Li" || word == ".Cm") rest >> word;
  while (!word.empty() && strchr(".,;", word.back())) word.pop_back();
  return word;
}

TEST(ConfigDocs, ManPageDocumentsEveryKeyAndNoOther) {
  std::map<std::string, DocKey> doc = man_keys();
  for (const OptionInfo& o : config_options()) {
    auto it = doc.find(o.name);
    if (it == doc.end()) {
      ADD_FAILURE() << kMan << ": key " << o.name << " is in the key table (src/config_table.cc)"
                    << " but has no \".It Ic " << o.name << " No = ...\" item under CONFIGURATION";
      continue;
    }
    const DocKey& d = it->second;
    if (o.scope == ConfigScope::kRoute) {
      EXPECT_TRUE(d.in_route) << kMan << ":" << d.line << ": " << o.name
                              << " is a route key; document it under [route NAME]";
    } else {
      EXPECT_FALSE(d.in_route) << kMan << ":" << d.line << ": " << o.name
                               << " may be set in [server]; document it under [server]";
    }
  }
  for (const auto& [key, d] : doc)
    EXPECT_NE(row(key), nullptr) << kMan << ":" << d.line << ": documents key " << key
                                 << ", which is not in the key table (src/config_table.cc)";
}

TEST(ConfigDocs, ManPageGivesEachDefault) {
  std::map<std::string, DocKey> doc = man_keys();
  for (const OptionInfo& o : config_options()) {
    auto it = doc.find(o.name);
    if (it == doc.end()) continue;  // reported above
    std::string want = !o.default_text ? "Required" : *o.default_text ? o.default_text : "";
    std::string got = man_default(it->second.text);
    std::string where = std::string(kMan) + ":" + std::to_string(it->second.line) + ": " + o.name;
    if (want.empty()) {  // an empty default: the key is unset, whatever the words
      EXPECT_TRUE(got == "unset" || got == "none")
          << where << " is empty by default; write \"Default: unset\" or \"none\""
          << (got.empty() ? "" : ", not \"" + got + "\"");
    } else {
      EXPECT_EQ(got, want) << where << ": the key table's default is " << want << "; write "
                           << (o.default_text ? "\"Default: " + want + ".\"" : "\"Required.\"");
    }
  }
}

TEST(ConfigDocs, SampleConfigShowsEveryKeyAndNoOther) {
  std::multimap<std::string, DocKey> doc = ini_keys();
  for (const OptionInfo& o : config_options())
    EXPECT_NE(doc.count(o.name), 0u)
        << kIni << ": key " << o.name << " is in the key table (src/config_table.cc) but the "
        << "sample neither sets it nor shows it commented out (\";" << o.name << " = ...\")";
  for (const auto& [key, d] : doc) {
    const OptionInfo* o = row(key);
    if (!o) {
      ADD_FAILURE() << kIni << ":" << d.line << ": \"" << d.text << "\" names key " << key
                    << ", which is not in the key table (src/config_table.cc)";
      continue;
    }
    if (d.in_route) {
      EXPECT_TRUE(allows_route(*o))
          << kIni << ":" << d.line << ": " << key << " is not a route key; move it to [server]";
    } else {
      EXPECT_TRUE(allows_server(*o)) << kIni << ":" << d.line << ": " << key
                                     << " is not a [server] key; move it to a [route NAME]";
    }
  }
}

}  // namespace
