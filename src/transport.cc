#include "transport.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

bool Transport::congested() const {
  return evbuffer_get_length(const_cast<Transport*>(this)->output()) > kOutHigh;
}

// Where output() is what goes on the wire, leading it is enough.
void Transport::set_preamble(const void* data, size_t len) {
  evbuffer_prepend(output(), data, len);
}

const ConnInfo& Transport::info() const {
  static const ConnInfo kNone;
  return info_ ? *info_ : kNone;
}

void Transport::set_addresses(const sockaddr* peer, const sockaddr* local) {
  if (info_) set_conn_addresses(*info_, peer, local);
}

std::unique_ptr<ConnInfo> accepted_conn_info(const sockaddr* peer) {
  auto info = std::make_unique<ConnInfo>();
  sockaddr_storage none{};
  set_conn_addresses(*info, peer, reinterpret_cast<sockaddr*>(&none));
  return info;
}

// Only inet addresses are copied: a listener is never a unix socket.
static void copy_address(sockaddr_storage& to, const sockaddr* from) {
  size_t len = from->sa_family == AF_INET6  ? sizeof(sockaddr_in6)
               : from->sa_family == AF_INET ? sizeof(sockaddr_in)
                                            : 0;
  to = sockaddr_storage{};
  if (len) memcpy(&to, from, len);
}

void set_conn_addresses(ConnInfo& info, const sockaddr* peer, const sockaddr* local) {
  copy_address(info.peer_addr, peer);
  copy_address(info.local_addr, local);
  info.peer = format_address(peer, &info.peer_ip);
}

std::string format_address(const sockaddr* addr, std::string* ip) {
  char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
  socklen_t len = addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)
    getnameinfo(addr, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
  if (ip) *ip = host;
  char buf[NI_MAXHOST + NI_MAXSERV + 4];
  snprintf(buf, sizeof buf, addr->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
  return buf;
}
