#include "plain_transport.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <algorithm>

#include "raw_io.h"

namespace {

// Small messages keep small evbuffer chains: memory per idle connection.
constexpr uint32_t kPlainMinRead = 4096;
// Chains per writev: libevent's own cap for evbuffer_write.
constexpr int kIov = 128;

}  // namespace

PlainTransport::PlainTransport(event_base* base, int fd, const sockaddr* peer)
    : SocketTransport(base, fd, peer, kPlainMinRead) {
  update_read();
}

PlainTransport::PlainTransport(event_base* base) : SocketTransport(base, kPlainMinRead) {}

// One read; a read that does not fill the space has emptied the socket. recv() when the space
// is one piece: the kernel then copies no iovec array in.
ssize_t PlainTransport::read_iov(const iovec* iov, int n, size_t) {
  for (;;) {
    ssize_t got = n == 1 ? raw_recv(fd_, iov[0].iov_base, iov[0].iov_len) : readv(fd_, iov, n);
    if (got >= 0) return got;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail(errno);
    return -1;
  }
}

// One send() for one chain, the usual case of a message, else one writev of up to kIov chains;
// each skips the iovec copy-in where it can.
void PlainTransport::write_out() {
  evbuffer_iovec v[kIov];
  int nv = evbuffer_peek(out_, -1, nullptr, v, kIov);
  ssize_t n;
  if (nv == 1)
    n = raw_send(fd_, v[0].iov_base, v[0].iov_len);
  else
    n = writev(fd_, reinterpret_cast<iovec*>(v), std::min(nv, kIov));
  if (n > 0) {
    evbuffer_drain(out_, static_cast<size_t>(n));
    bytes_written_ += static_cast<uint64_t>(n);
  } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    fail(errno);
  }
}

bool PlainTransport::write_end() {
  ::shutdown(fd_, SHUT_WR);
  return true;
}

void PlainTransport::tcp_connected() {
  established();
}
