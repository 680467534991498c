#include "proxy_protocol_out.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <string>

namespace {

constexpr uint8_t kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr uint8_t kVersion2Proxy = 0x21;  // version 2, command PROXY
constexpr uint8_t kFamUnspec = 0x00;
constexpr uint8_t kFamTcp4 = 0x11;
constexpr uint8_t kFamTcp6 = 0x21;
constexpr uint8_t kTypeAuthority = 0x02;
constexpr uint8_t kTypeSsl = 0x20;
constexpr uint8_t kSubtypeSslVersion = 0x21;
constexpr uint8_t kSubtypeSslCn = 0x22;
constexpr uint8_t kClientSsl = 0x01;
constexpr uint8_t kClientCertConn = 0x02;
constexpr uint8_t kClientCertSess = 0x04;

// Both ends of the client's connection in one family: IPv4, IPv6, or AF_UNSPEC when they are
// not inet or differ. An IPv4-mapped pair (a [::] listener) is told as the IPv4 it is.
struct Ends {
  int family = AF_UNSPEC;
  uint8_t src[16], dst[16];
  uint16_t sport = 0, dport = 0;  // network order
};

// The IPv4 address inside an IPv4-mapped IPv6 one, if it is one.
bool mapped_v4(const sockaddr_in6& a, uint8_t out[4]) {
  if (!IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) return false;
  memcpy(out, a.sin6_addr.s6_addr + 12, 4);
  return true;
}

Ends ends_of(const ConnInfo& info) {
  Ends e;
  int pf = info.peer_addr.ss_family, lf = info.local_addr.ss_family;
  if (pf == AF_INET && lf == AF_INET) {
    auto& p = reinterpret_cast<const sockaddr_in&>(info.peer_addr);
    auto& l = reinterpret_cast<const sockaddr_in&>(info.local_addr);
    memcpy(e.src, &p.sin_addr, 4);
    memcpy(e.dst, &l.sin_addr, 4);
    e.sport = p.sin_port;
    e.dport = l.sin_port;
    e.family = AF_INET;
  } else if (pf == AF_INET6 && lf == AF_INET6) {
    auto& p = reinterpret_cast<const sockaddr_in6&>(info.peer_addr);
    auto& l = reinterpret_cast<const sockaddr_in6&>(info.local_addr);
    e.sport = p.sin6_port;
    e.dport = l.sin6_port;
    if (mapped_v4(p, e.src) && mapped_v4(l, e.dst)) {
      e.family = AF_INET;
    } else {
      memcpy(e.src, &p.sin6_addr, 16);
      memcpy(e.dst, &l.sin6_addr, 16);
      e.family = AF_INET6;
    }
  }
  return e;
}

// "PROXY TCP4 1.2.3.4 5.6.7.8 1000 80\r\n", or "PROXY UNKNOWN\r\n".
void build_v1(const Ends& e, ProxyHeader& out) {
  char* p = reinterpret_cast<char*>(out.bytes);
  if (e.family == AF_UNSPEC) {
    out.len = static_cast<size_t>(snprintf(p, sizeof out.bytes, "PROXY UNKNOWN\r\n"));
    return;
  }
  char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
  inet_ntop(e.family, e.src, src, sizeof src);
  inet_ntop(e.family, e.dst, dst, sizeof dst);
  out.len = static_cast<size_t>(snprintf(p, sizeof out.bytes, "PROXY %s %s %s %u %u\r\n",
                                         e.family == AF_INET ? "TCP4" : "TCP6", src, dst,
                                         ntohs(e.sport), ntohs(e.dport)));
}

// Appends bytes; kProxyHeaderMax is the sum of every part at its cap, so they always fit.
void put(ProxyHeader& out, const void* data, size_t n) {
  memcpy(out.bytes + out.len, data, n);
  out.len += n;
}

void put_u8(ProxyHeader& out, uint8_t v) {
  out.bytes[out.len++] = v;
}

void put_u16(ProxyHeader& out, size_t v) {
  put_u8(out, static_cast<uint8_t>(v >> 8));
  put_u8(out, static_cast<uint8_t>(v & 0xff));
}

// One TLV whose value is text; left out when the text is empty or longer than `max`.
void put_tlv(ProxyHeader& out, uint8_t type, const std::string& value, size_t max) {
  if (value.empty() || value.size() > max) return;
  put_u8(out, type);
  put_u16(out, value.size());
  put(out, value.data(), value.size());
}

// The TLS TLVs: AUTHORITY (the SNI name), SSL with its version and, for a verified client
// certificate, its CN, and the whole subject DN in our custom TLV.
void put_tls_tlvs(const ConnInfo& info, ProxyHeader& out) {
  put_tlv(out, kTypeAuthority, info.sni, kProxySniMax);
  const ClientCert* cert = info.client_cert.get();
  uint8_t client = kClientSsl;
  // Only verified certificates are kept (tls_session_info); a resumed session presented
  // it on an earlier connection.
  if (cert) client |= kClientCertSess | (cert->resumed ? 0 : kClientCertConn);
  put_u8(out, kTypeSsl);
  size_t len_at = out.len;
  put_u16(out, 0);  // filled in below
  put_u8(out, client);
  uint32_t verify = htonl(cert ? 0 : 1);  // zero only for a certificate that verified
  put(out, &verify, 4);
  put_tlv(out, kSubtypeSslVersion, info.tls_version, kProxyVersionMax);
  if (cert) put_tlv(out, kSubtypeSslCn, cert->cn, kProxyCnMax);
  size_t ssl_len = out.len - len_at - 2;
  out.bytes[len_at] = static_cast<uint8_t>(ssl_len >> 8);
  out.bytes[len_at + 1] = static_cast<uint8_t>(ssl_len & 0xff);
  if (cert) put_tlv(out, kProxyTlvSubjectDn, cert->subject, kProxyDnMax);
}

// Signature, version and command, family, length, addresses, then the TLVs.
void build_v2(const Ends& e, const ConnInfo& info, ProxyHeader& out) {
  put(out, kSignature, sizeof kSignature);
  put_u8(out, kVersion2Proxy);
  put_u8(out, e.family == AF_INET ? kFamTcp4 : e.family == AF_INET6 ? kFamTcp6 : kFamUnspec);
  size_t len_at = out.len;
  put_u16(out, 0);  // filled in below
  size_t alen = e.family == AF_INET ? 4 : e.family == AF_INET6 ? 16 : 0;
  if (alen) {
    put(out, e.src, alen);
    put(out, e.dst, alen);
    put(out, &e.sport, 2);
    put(out, &e.dport, 2);
  }
  if (info.tls) put_tls_tlvs(info, out);
  size_t rest = out.len - len_at - 2;
  out.bytes[len_at] = static_cast<uint8_t>(rest >> 8);
  out.bytes[len_at + 1] = static_cast<uint8_t>(rest & 0xff);
}

}  // namespace

void proxy_header(ProxyProtocol version, const ConnInfo& info, ProxyHeader& out) {
  out.len = 0;
  if (version == ProxyProtocol::kV1)
    build_v1(ends_of(info), out);
  else if (version == ProxyProtocol::kV2)
    build_v2(ends_of(info), info, out);
}
