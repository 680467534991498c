// The socket BIO under TlsTransport, on a real socket pair: bytes both ways, a retry when the
// socket is empty or full, and the end of file that OpenSSL asks BIO_eof about.
#include "tls_bio.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>

#include <string>

namespace {

class TlsBioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
    bio_ = tls_socket_bio(fds_[0]);
    ASSERT_NE(bio_, nullptr);
  }
  void TearDown() override {
    BIO_free(bio_);
    close(fds_[0]);
    if (fds_[1] >= 0) close(fds_[1]);
  }
  int fds_[2] = {-1, -1};
  BIO* bio_ = nullptr;
};

TEST_F(TlsBioTest, CarriesBytesBothWaysAndNamesItsDescriptor) {
  ASSERT_EQ(BIO_write(bio_, "hello", 5), 5);
  char buf[16] = {};
  ASSERT_EQ(read(fds_[1], buf, sizeof buf), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  ASSERT_EQ(write(fds_[1], "world!", 6), 6);
  EXPECT_EQ(BIO_read(bio_, buf, sizeof buf), 6);
  EXPECT_EQ(std::string(buf, 6), "world!");
  EXPECT_EQ(BIO_get_fd(bio_, nullptr), fds_[0]);
  EXPECT_EQ(BIO_flush(bio_), 1);
}

TEST_F(TlsBioTest, AnEmptySocketAsksForARetryAndIsNotTheEnd) {
  char buf[16];
  EXPECT_LT(BIO_read(bio_, buf, sizeof buf), 0);
  EXPECT_TRUE(BIO_should_retry(bio_));
  EXPECT_TRUE(BIO_should_read(bio_));
  EXPECT_FALSE(BIO_eof(bio_));
}

TEST_F(TlsBioTest, AFullSocketAsksForAWriteRetry) {
  std::string chunk(65536, 'x');
  int n;
  while ((n = BIO_write(bio_, chunk.data(), static_cast<int>(chunk.size()))) > 0) {
  }
  EXPECT_TRUE(BIO_should_retry(bio_));
  EXPECT_TRUE(BIO_should_write(bio_));
}

TEST_F(TlsBioTest, ThePeersCloseIsEndOfFileWithoutRetry) {
  close(fds_[1]);
  fds_[1] = -1;
  char buf[16];
  EXPECT_EQ(BIO_read(bio_, buf, sizeof buf), 0);
  EXPECT_FALSE(BIO_should_retry(bio_));
  EXPECT_TRUE(BIO_eof(bio_)) << "OpenSSL tells an unexpected EOF by BIO_eof";
}

}  // namespace
