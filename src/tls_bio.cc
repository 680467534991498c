// OpenSSL's socket BIO calls read(2) and write(2) through glibc's cancellation-point wrappers,
// which a threaded process pays for with two atomic operations per call; this one makes the
// same calls bare (raw_io.h), as PlainTransport does. Everything else a socket BIO answers
// (retry flags, by OpenSSL's own errno test; end of file; the descriptor) it answers the same way.
#include "tls_bio.h"

#include <errno.h>
#include <stdint.h>

#include <openssl/bio.h>

#include "raw_io.h"

namespace {

int fd_of(BIO* b) {
  return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
}

int bio_write(BIO* b, const char* p, int n) {
  ssize_t r = raw_send(fd_of(b), p, static_cast<size_t>(n));
  BIO_clear_retry_flags(b);
  if (r <= 0 && BIO_sock_non_fatal_error(errno)) BIO_set_retry_write(b);
  return static_cast<int>(r);
}

int bio_read(BIO* b, char* p, int n) {
  if (!p) return 0;
  ssize_t r = raw_recv(fd_of(b), p, static_cast<size_t>(n));
  BIO_clear_retry_flags(b);
  if (r < 0 && BIO_sock_non_fatal_error(errno))
    BIO_set_retry_read(b);
  else if (r == 0)
    BIO_set_flags(b, BIO_FLAGS_IN_EOF);  // OpenSSL asks (BIO_eof) to tell an unexpected EOF
  return static_cast<int>(r);
}

long bio_ctrl(BIO* b, int cmd, long, void* ptr) {
  switch (cmd) {
    case BIO_C_GET_FD:
      if (ptr) *static_cast<int*>(ptr) = fd_of(b);
      return fd_of(b);
    case BIO_CTRL_EOF:
      return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DUP:
      return 1;
    default:
      return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

// Made once; OpenSSL keeps using it until the process ends.
BIO_METHOD* method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* x = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "wsgate socket");
    if (x && (BIO_meth_set_write(x, bio_write) != 1 || BIO_meth_set_read(x, bio_read) != 1 ||
              BIO_meth_set_ctrl(x, bio_ctrl) != 1 || BIO_meth_set_create(x, bio_create) != 1)) {
      BIO_meth_free(x);
      x = nullptr;
    }
    return x;
  }();
  return m;
}

}  // namespace

BIO* tls_socket_bio(int fd) {
  BIO_METHOD* m = method();
  BIO* b = m ? BIO_new(m) : nullptr;
  if (b) BIO_set_data(b, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  return b;
}
