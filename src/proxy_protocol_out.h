// The PROXY protocol header (HAProxy's proxy-protocol.txt, v1 text and v2 binary) that a route
// with proxy_protocol sends first to its backend, so that the backend learns the client's
// address, and over TLS the SNI name and the verified client certificate. Pure: bytes only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "config.h"
#include "transport.h"

// Longest values carried in v2 TLVs; a longer one is left out whole, never cut.
constexpr size_t kProxySniMax = 255;          // TLS allows no longer host_name
constexpr size_t kProxyVersionMax = 32;       // "TLSv1.3"
constexpr size_t kProxyCnMax = 255;           // the client certificate's subject CN
constexpr size_t kProxyDnMax = 1024;          // its whole RFC 2253 subject, in TLV 0xE0
constexpr uint8_t kProxyTlvSubjectDn = 0xE0;  // PP2_TYPE_MIN_CUSTOM: ours, documented

// v2 with IPv6 addresses and every TLV at its longest (v1 is at most 107 bytes).
constexpr size_t kProxyHeaderMax = 16 + 36 + (3 + kProxySniMax) +
                                   (3 + 5 + (3 + kProxyVersionMax) + (3 + kProxyCnMax)) +
                                   (3 + kProxyDnMax);

// A header built on the stack: no allocation per connection for it.
struct ProxyHeader {
  uint8_t bytes[kProxyHeaderMax];
  size_t len = 0;
};

// The header for a client: source = info.peer_addr, destination = info.local_addr (an
// incoming PROXY header's, when there was one); TLS TLVs in v2 when info.tls. kOff gives none.
void proxy_header(ProxyProtocol version, const ConnInfo& info, ProxyHeader& out);
