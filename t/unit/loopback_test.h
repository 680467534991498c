// What the transport tests on real sockets share: an event base, a listener on 127.0.0.1 at a
// free port, and running the loop until something happened.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

class LoopbackTest : public ::testing::Test {
 protected:
  // Called from SetUp: the base and the listener, whose address goes into addr_.
  void open_loopback() {
    base_ = event_base_new();
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(listen(listener_, 8), 0);
    socklen_t len = sizeof addr_;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr_), &len);
  }
  // Called from TearDown, once the transports are gone.
  void close_loopback() {
    close(listener_);
    event_base_free(base_);
  }
  // Runs the loop until `done` or about `ms` pass.
  template <typename F>
  void run_until(F done, int ms = 2000) {
    for (int i = 0; i < ms && !done(); i++) {
      timeval tv = {0, 1000};
      event_base_loopexit(base_, &tv);
      event_base_dispatch(base_);
    }
  }

  event_base* base_ = nullptr;
  int listener_ = -1;
  sockaddr_in addr_ = {};
};
