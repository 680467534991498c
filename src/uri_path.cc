#include "uri_path.h"

#include "http.h"

namespace {

// A hex digit's value, or -1: what makes "%zz" malformed.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 section 6.2.2.1: escapes compare equal whatever the case; upper case is normal.
char upper_hex(char c) {
  return c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c;
}

// RFC 3986 section 2.3: these mean the same encoded or not, so they are compared decoded.
bool is_unreserved(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool is_dot_segment(std::string_view seg) {
  return seg == "." || seg == "..";
}

// True when normalizing would change nothing, so the common request needs no copy: no '%',
// no empty segment and no dot-segment.
bool already_normal(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  size_t start = 1;
  for (size_t i = 1; i <= path.size(); i++) {
    if (i < path.size() && path[i] == '%') return false;
    if (i == path.size() || path[i] == '/') {
      std::string_view seg = path.substr(start, i - start);
      if (is_dot_segment(seg) || (seg.empty() && i < path.size())) return false;
      start = i + 1;
    }
  }
  return true;
}

}  // namespace

int normalize_path(std::string_view path, std::string& storage, std::string_view& out,
                   const char** why) {
  // Not a URI character; some backends read it as '/', which would reopen the dot-segment
  // escape behind the prefix match. %5C stays encoded data, like %2F.
  if (path.find('\\') != std::string_view::npos) {
    *why = "request path has a backslash; encode it as %5C";
    return http_status::kBadRequest;
  }
  if (already_normal(path)) {
    out = path;
    return 0;
  }
  if (!path.empty() && path[0] != '/') {
    *why = "request path must start with /";
    return http_status::kBadRequest;
  }
  // `storage` holds "/seg" for each segment kept so far; a trailing '/' is added at the end.
  storage.clear();
  storage.reserve(path.size() + 1);
  bool trailing_slash = true;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') i++;  // merges "//" (nginx's merge_slashes)
    if (i == path.size()) {
      trailing_slash = true;
      break;
    }
    size_t seg_at = storage.size();
    storage.push_back('/');
    for (; i < path.size() && path[i] != '/'; i++) {
      if (path[i] != '%') {
        storage.push_back(path[i]);
        continue;
      }
      int hi = i + 2 < path.size() ? hex_value(path[i + 1]) : -1;
      int lo = hi >= 0 ? hex_value(path[i + 2]) : -1;
      if (lo < 0) {
        *why = "malformed percent-encoding in the request path";
        return http_status::kBadRequest;
      }
      int c = hi * 16 + lo;
      if (c == 0) {
        *why = "request path has an encoded NUL (%00)";
        return http_status::kBadRequest;
      }
      if (is_unreserved(c)) {
        storage.push_back(static_cast<char>(c));
      } else {
        storage.push_back('%');
        storage.push_back(upper_hex(path[i + 1]));
        storage.push_back(upper_hex(path[i + 2]));
      }
      i += 2;
    }
    std::string_view seg = std::string_view(storage).substr(seg_at + 1);
    trailing_slash = is_dot_segment(seg);
    if (!trailing_slash) continue;
    bool up = seg == "..";
    storage.resize(seg_at);
    if (up) {
      // Like nginx, a path that climbs above the root is refused rather than clamped.
      if (storage.empty()) {
        *why = "request path climbs above the root with ..";
        return http_status::kBadRequest;
      }
      storage.resize(storage.rfind('/'));
    }
  }
  if (trailing_slash || storage.empty()) storage.push_back('/');
  out = storage;
  return 0;
}
