// A TCP or unix socket with reads of its own: libevent's socket bufferevent reads at most 4 KiB
// at a time, after an ioctl(FIONREAD), so a 16 KiB message cost four wake-ups per hop. This one
// reads into evbuffer space in one readv of up to 256 KiB, and writes at once when idle; the
// events, buffers and connects are SocketTransport's.
#pragma once

#include "socket_transport.h"

class PlainTransport final : public SocketTransport {
 public:
  // An accepted socket, owned from now on.
  PlainTransport(event_base* base, int fd, const sockaddr* peer);
  // A socket still to be opened by connect().
  explicit PlainTransport(event_base* base);

 private:
  ssize_t read_iov(const iovec* iov, int n, size_t space) override;
  void write_out() override;
  bool write_end() override;
  void tcp_connected() override;
};
