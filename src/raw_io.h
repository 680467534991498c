// recv(2) and send(2) without glibc's cancellation-point wrapper, which in a threaded process
// flips the thread's cancel state with two atomic operations around each call; wsgate never
// cancels a thread, and these run once per message.
#pragma once

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

// One recv(2) into p.
inline ssize_t raw_recv(int fd, void* p, size_t n) {
  return syscall(SYS_recvfrom, fd, p, n, 0, nullptr, nullptr);
}

// One send(2) of p, without SIGPIPE.
inline ssize_t raw_send(int fd, const void* p, size_t n) {
  return syscall(SYS_sendto, fd, p, n, MSG_NOSIGNAL, nullptr, 0);
}
