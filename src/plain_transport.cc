#include "plain_transport.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>

namespace {

// Small messages keep small evbuffer chains: memory per idle connection.
constexpr uint32_t kPlainMinRead = 4096;

}  // namespace

PlainTransport::PlainTransport(event_base* base, int fd, const sockaddr* peer)
    : SocketTransport(base, fd, peer, kPlainMinRead) {
  update_read();
}

PlainTransport::PlainTransport(event_base* base) : SocketTransport(base, kPlainMinRead) {}

// One readv; a read that does not fill the space has emptied the socket.
ssize_t PlainTransport::read_iov(const iovec* iov, int n, size_t) {
  for (;;) {
    ssize_t got = readv(fd_, iov, n);
    if (got >= 0) return got;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail(errno);
    return -1;
  }
}

// libevent writes the chains with one writev.
void PlainTransport::write_out() {
  int n = evbuffer_write(out_, fd_);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
    fail(errno);
  else if (n > 0)
    bytes_written_ += static_cast<uint64_t>(n);
}

bool PlainTransport::write_end() {
  ::shutdown(fd_, SHUT_WR);
  return true;
}

void PlainTransport::tcp_connected() {
  established();
}
