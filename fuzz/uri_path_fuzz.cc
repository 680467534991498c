// The request-path normalizer on any bytes: accepted output is a normal absolute path, and
// normalizing it again changes nothing.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "uri_path.h"

namespace {

// No empty segment ("//") and no "." or ".." segment.
bool segments_normal(std::string_view p) {
  size_t start = 1;
  for (size_t i = 1; i <= p.size(); i++) {
    if (i < p.size() && p[i] != '/') continue;
    std::string_view seg = p.substr(start, i - start);
    if (seg == "." || seg == "..") return false;
    if (seg.empty() && i < p.size()) return false;
    start = i + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string storage;
  std::string_view out;
  const char* why = nullptr;
  int status = normalize_path(in, storage, out, &why);
  if (status != 0) {
    if (status != 400 || !why) abort();
    return 0;
  }
  if (out.empty() || out[0] != '/' || !segments_normal(out)) abort();
  if (out.size() > in.size() + 1) abort();  // never grows, past the "/" of an empty path
  std::string again_storage;
  std::string_view again;
  if (normalize_path(out, again_storage, again, &why) != 0 || again != out) abort();
  // A normal path without escapes is its own view: no copy on the second pass.
  if (out.find('%') == std::string_view::npos && again.data() != out.data()) abort();
  return 0;
}
