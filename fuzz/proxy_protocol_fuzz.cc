// Fuzzes the incoming PROXY protocol parser at every prefix of the input, each copied to a
// buffer of exactly its size so that ASan catches a read past it: Done never claims more bytes
// than it was given, and the answers agree as the input grows (the reader's incremental use):
// NeedMore, then at most one switch to Done (same length and addresses from then on) or Error.
#include <string.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "proxy_protocol_in.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 2 * kProxyHeaderMax) return 0;
  ProxyParse first = ProxyParse::kNeedMore;
  ProxyHeader done;
  for (size_t n = 0; n <= size; n++) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[n ? n : 1]);
    if (n) memcpy(copy.get(), data, n);
    ProxyHeader h;
    ProxyParse r = parse_proxy_header(copy.get(), n, h);
    if (r == ProxyParse::kDone && (h.length > n || h.length == 0)) abort();
    if (r == ProxyParse::kError && h.error == ProxyError::kNone) abort();
    if (r == ProxyParse::kNeedMore && n > kProxyHeaderMax) abort();
    if (first == ProxyParse::kNeedMore) {
      first = r;
      done = h;
      continue;
    }
    if (r != first) abort();
    if (r == ProxyParse::kDone && (h.length != done.length || h.addresses != done.addresses ||
                                   memcmp(&h.src, &done.src, sizeof h.src) != 0 ||
                                   memcmp(&h.dst, &done.dst, sizeof h.dst) != 0))
      abort();
  }
  return 0;
}
