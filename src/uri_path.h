// Request-path normalization before route matching (RFC 3986 sections 2.3, 5.2.4 and 6.2.2), so
// that a prefix route cannot be escaped with dot-segments, encoded dots or doubled slashes.
#pragma once

#include <string>
#include <string_view>

// Normalizes an origin-form path (the request target before '?'): unreserved characters
// decoded (%2E too), other percent-encodings kept with upper-case hex (%2F stays encoded and
// separates nothing), runs of '/' merged, then dot-segments removed. Returns 0 with `out`
// viewing either `path` itself (already normal: no copy) or `storage`; or 400 and `why` for a
// malformed or NUL percent-encoding, a raw backslash, a path that does not start with '/', or one
// that climbs above the root. An empty path is "/".
int normalize_path(std::string_view path, std::string& storage, std::string_view& out,
                   const char** why);
