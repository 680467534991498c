// bench/floor: a bare epoll byte relay, the floor for make bench. Each accepted client gets a
// connection to the backend; whatever one side sends is recv()d into a stack buffer and sent
// to the other, nothing else: no parsing, no buffering, no timers, one thread. Its CPU per
// echoed message is the least any proxy built on readiness events and one recv and one send
// per hop spends on this kernel, so "floor ÷ best peer" is the lowest ratio such a design can
// reach. Not a proxy to use: it assumes a send never blocks for long (one message in flight
// per connection, as in the bench), and waits in poll() if one does.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace {

// A socket on 127.0.0.1:port, listening or connected; -1 on failure.
int tcp_socket(int port, bool listening) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  const sockaddr* sa = reinterpret_cast<const sockaddr*>(&a);
  bool ok = listening ? setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                            bind(fd, sa, sizeof a) == 0 && listen(fd, 4096) == 0
                      : connect(fd, sa, sizeof a) == 0 &&
                            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
  if (!ok) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends all of p, waiting for room if the socket is full; false if the peer is gone.
bool send_all(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      p += w;
      n -= static_cast<size_t>(w);
    } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd pf = {fd, POLLOUT, 0};
      poll(&pf, 1, -1);
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, backend = 0, c;
  while ((c = getopt(argc, argv, "p:b:")) != -1) {
    if (c == 'p') port = atoi(optarg);
    if (c == 'b') backend = atoi(optarg);
  }
  int ls = port > 0 ? tcp_socket(port, true) : -1;
  if (ls < 0 || backend <= 0) {
    fprintf(stderr, "usage: floor -p PORT -b BACKEND_PORT (both on 127.0.0.1)\n");
    return 2;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = ls;
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  std::vector<int> partner;
  epoll_event ready[256];
  static char buf[256 * 1024];
  for (;;) {
    int n = epoll_wait(ep, ready, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = ready[i].data.fd;
      if (fd == ls) {
        int cl = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cl < 0) continue;
        int one = 1;
        setsockopt(cl, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int be = tcp_socket(backend, false);
        if (be < 0) {
          close(cl);
          continue;
        }
        size_t need = static_cast<size_t>(cl > be ? cl : be) + 1;
        if (partner.size() < need) partner.resize(need, -1);
        partner[cl] = be;
        partner[be] = cl;
        for (int s : {cl, be}) {
          ev.data.fd = s;
          epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
        }
        continue;
      }
      int to = partner[fd];
      if (to < 0) continue;  // closed earlier in this batch
      ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0 || !send_all(to, buf, static_cast<size_t>(r))) {
        partner[fd] = partner[to] = -1;
        close(fd);
        close(to);
      }
    }
  }
}
