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

// The sections a doc file puts keys under.
enum class Where { kServer, kRoute, kTls, kMetrics };

// Whether a key may be set in a section of this kind.
bool allows(const OptionInfo& o, Where w) {
  ConfigScope s = w == Where::kServer  ? ConfigScope::kServer
                  : w == Where::kRoute ? ConfigScope::kRoute
                  : w == Where::kTls   ? ConfigScope::kTls
                                       : ConfigScope::kMetrics;
  return static_cast<int>(o.scope) & static_cast<int>(s);
}

// How the docs name a section kind.
const char* section_name(Where w) {
  return w == Where::kServer  ? "[server]"
         : w == Where::kRoute ? "[route NAME]"
         : w == Where::kTls   ? "[tls NAME]"
                              : "[metrics]";
}

// The section kind a header such as "[route" or ".Ss [tls NAME]" opens.
Where where_of(const std::string& header) {
  return header.find("route") != std::string::npos     ? Where::kRoute
         : header.find("tls") != std::string::npos     ? Where::kTls
         : header.find("metrics") != std::string::npos ? Where::kMetrics
                                                       : Where::kServer;
}

// The table's row for a key in a section of this kind (listen is a key of two), or null.
const OptionInfo* row(const std::string& key, Where w) {
  for (const OptionInfo& o : config_options())
    if (key == o.name && allows(o, w)) return &o;
  return nullptr;
}

// The section kind the docs put a row under.
Where where_of(const OptionInfo& o) {
  return o.scope == ConfigScope::kRoute     ? Where::kRoute
         : o.scope == ConfigScope::kTls     ? Where::kTls
         : o.scope == ConfigScope::kMetrics ? Where::kMetrics
                                            : Where::kServer;
}

// A man page key: its name and the section it is under.
using ManKey = std::pair<std::string, Where>;

// One key as a doc file mentions it: the section it is under, its line and its text.
struct DocKey {
  Where where = Where::kServer;
  int line = 0;
  std::string text;  // the man page: the item up to the next key; the ini: the line
};

// The man page's keys: ".It Ic KEY No = ..." items under CONFIGURATION, in [server] or
// [route NAME] or [tls NAME] or [metrics].
std::map<ManKey, DocKey> man_keys() {
  std::vector<std::string> lines = read_lines(kMan);
  std::map<ManKey, DocKey> keys;
  static const std::regex item(R"(^\.It Ic ([a-z_][a-z0-9_]*) No = )");
  bool in_config = false;
  Where where = Where::kServer;
  DocKey* current = nullptr;
  for (size_t i = 0; i < lines.size(); i++) {
    const std::string& l = lines[i];
    if (l.compare(0, 4, ".Sh ") == 0) in_config = l == ".Sh CONFIGURATION";
    if (!in_config) {
      current = nullptr;
      continue;
    }
    if (l.compare(0, 4, ".Ss ") == 0) {
      where = where_of(l);
      current = nullptr;
    }
    std::smatch m;
    if (std::regex_search(l, m, item)) {
      ManKey k{m[1], where};
      EXPECT_EQ(keys.count(k), 0u) << kMan << ":" << i + 1 << ": " << m[1] << " again";
      current = &keys[k];
      *current = {where, static_cast<int>(i + 1), ""};
    }
    if (current) current->text += l + "\n";
  }
  return keys;
}

// The sample's keys: "KEY =" lines, set or commented out with ';' or '#', under [server] or
// a (possibly commented) [route NAME], [tls NAME] or [metrics].
std::multimap<std::string, DocKey> ini_keys() {
  std::vector<std::string> lines = read_lines(kIni);
  std::multimap<std::string, DocKey> keys;
  static const std::regex section(R"(^\s*[;#]?\s*\[(\w+))");
  static const std::regex key(R"(^\s*[;#]?\s*([a-z_][a-z0-9_]*)\s*=)");
  Where where = Where::kServer;
  for (size_t i = 0; i < lines.size(); i++) {
    std::smatch m;
    if (std::regex_search(lines[i], m, section)) where = where_of(m[1]);
    if (std::regex_search(lines[i], m, key))
      keys.emplace(m[1], DocKey{where, static_cast<int>(i + 1), lines[i]});
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
  // A default of several words is quoted: .Li "TLSv1.2 TLSv1.3" .
  if (!word.empty() && word[0] == '"') {
    std::string more;
    while (word.back() != '"' && rest >> more) word += " " + more;
    return word.substr(1, word.size() - 2);
  }
  while (!word.empty() && strchr(".,;", word.back())) word.pop_back();
  return word;
}

TEST(ConfigDocs, ManPageDocumentsEveryKeyAndNoOther) {
  std::map<ManKey, DocKey> doc = man_keys();
  for (const OptionInfo& o : config_options()) {
    Where want = where_of(o);
    if (!doc.count({o.name, want}))
      ADD_FAILURE() << kMan << ": key " << o.name << " is in the key table (src/config_table.cc)"
                    << " but has no \".It Ic " << o.name << " No = ...\" item under "
                    << section_name(want) << " in CONFIGURATION";
  }
  for (const auto& [key, d] : doc)
    EXPECT_NE(row(key.first, key.second), nullptr)
        << kMan << ":" << d.line << ": documents key " << key.first << " under "
        << section_name(key.second) << ", which the key table (src/config_table.cc) has not there";
}

TEST(ConfigDocs, ManPageGivesEachDefault) {
  std::map<ManKey, DocKey> doc = man_keys();
  for (const OptionInfo& o : config_options()) {
    auto it = doc.find({o.name, where_of(o)});
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
  for (const OptionInfo& o : config_options()) {
    bool shown = false;
    auto [from, to] = doc.equal_range(o.name);
    for (auto it = from; it != to; ++it) shown = shown || it->second.where == where_of(o);
    EXPECT_TRUE(shown) << kIni << ": key " << o.name << " is in the key table (src/config_table.cc)"
                       << " but the sample neither sets it nor shows it commented out (\";"
                       << o.name << " = ...\") under " << section_name(where_of(o));
  }
  for (const auto& [key, d] : doc) {
    if (row(key, d.where)) continue;
    if (row(key, Where::kServer) || row(key, Where::kRoute) || row(key, Where::kTls) ||
        row(key, Where::kMetrics))
      ADD_FAILURE() << kIni << ":" << d.line << ": " << key << " cannot be set in "
                    << section_name(d.where);
    else
      ADD_FAILURE() << kIni << ":" << d.line << ": \"" << d.text << "\" names key " << key
                    << ", which is not in the key table (src/config_table.cc)";
  }
}

}  // namespace
