// The PROXY protocol header (HAProxy's proxy-protocol.txt, v1 text and v2 binary) that a load
// balancer puts before the client's bytes. A pure parser over the bytes seen so far: it keeps
// no state between calls, so feeding more bytes and asking again is the incremental use.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

// The longest v1 line, CRLF included (the spec's bound).
constexpr size_t kProxyV1Max = 107;
// v2: the fixed part, and the most address and TLV bytes after it that we take.
constexpr size_t kProxyV2Fixed = 16;
constexpr size_t kProxyV2MaxBody = 1024;
// No valid header is longer: the most a reader needs to hold.
constexpr size_t kProxyHeaderMax = kProxyV2Fixed + kProxyV2MaxBody;

enum class ProxyParse : uint8_t { kNeedMore, kDone, kError };

// Why a header was refused, in the kinds a metric counts.
enum class ProxyError : uint8_t { kNone, kMalformed, kOversized };

struct ProxyHeader {
  size_t length = 0;       // kDone: the header's bytes; what follows is the client's
  int version = 0;         // 1 or 2, once the signature is known
  bool addresses = false;  // false: LOCAL, UNKNOWN, UNSPEC or AF_UNIX: keep the socket's
  sockaddr_storage src{};  // the client, when addresses
  sockaddr_storage dst{};  // the address it connected to, when addresses
  ProxyError error = ProxyError::kNone;
  const char* reason = "";  // kError: a static text for logs
};

// Parses the start of a connection: kNeedMore while `data` may still become a valid header,
// kDone with out.length <= len, or kError as soon as the bytes cannot be one. Reads nothing
// past data[len - 1], and nothing past the header once it is complete.
ProxyParse parse_proxy_header(const uint8_t* data, size_t len, ProxyHeader& out);
