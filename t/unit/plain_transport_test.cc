// PlainTransport on real loopback sockets: large reads in one wake-up, writes at once, read
// limits and pauses, backpressure notices, half-close, and connects that work or fail.
#include "plain_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <memory>
#include <string>
#include <vector>

#include "block_cache.h"
#include "config.h"
#include "loopback_test.h"
#include "test_buffer.h"

namespace {

// Records what the transport reports; may drain the input as an owner would.
struct Owner final : TransportHandler {
  void on_readable(Transport& t) override {
    readable++;
    if (consume) evbuffer_drain(t.input(), evbuffer_get_length(t.input()));
  }
  void on_drained(Transport&) override { drained++; }
  void on_event(Transport&, TransportEvent ev) override { events.push_back(ev); }
  bool saw(TransportEvent ev) const {
    for (TransportEvent e : events)
      if (e == ev) return true;
    return false;
  }
  int readable = 0;
  int drained = 0;
  bool consume = false;
  std::vector<TransportEvent> events;
};

class PlainTransportTest : public LoopbackTest {
 protected:
  void SetUp() override { open_loopback(); }
  void TearDown() override {
    t_.reset();
    if (peer_ >= 0) close(peer_);
    close_loopback();
  }
  // A client socket (the test's end) and the accepted side under a PlainTransport.
  void accept_pair(int rcvbuf = 0) {
    peer_ = socket(AF_INET, SOCK_STREAM, 0);
    // Before the connect, so that the window the peer offers stays small.
    if (rcvbuf) setsockopt(peer_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    ASSERT_EQ(connect(peer_, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_), 0);
    sockaddr_storage from;
    socklen_t len = sizeof from;
    int fd = accept4(listener_, reinterpret_cast<sockaddr*>(&from), &len, SOCK_NONBLOCK);
    ASSERT_GE(fd, 0);
    t_ = std::make_unique<PlainTransport>(base_, fd, reinterpret_cast<sockaddr*>(&from));
    t_->set_handler(&owner_);
  }
  void loop_once() { event_base_loop(base_, EVLOOP_NONBLOCK); }
  void send_peer(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(peer_, s.data() + off, s.size() - off, 0);
      ASSERT_GT(n, 0);
      off += static_cast<size_t>(n);
    }
  }
  // What the peer can read now, without waiting.
  std::string recv_peer() {
    std::string got;
    char buf[65536];
    ssize_t n;
    while ((n = recv(peer_, buf, sizeof buf, MSG_DONTWAIT)) > 0) got.append(buf, n);
    return got;
  }

  int peer_ = -1;
  std::unique_ptr<PlainTransport> t_;
  Owner owner_;
};

TEST_F(PlainTransportTest, KnowsBothEndsOfAnAcceptedSocket) {
  accept_pair();
  sockaddr_in mine;
  socklen_t len = sizeof mine;
  getsockname(peer_, reinterpret_cast<sockaddr*>(&mine), &len);
  EXPECT_EQ(t_->info().peer, "127.0.0.1:" + std::to_string(ntohs(mine.sin_port)));
  EXPECT_EQ(t_->info().peer_ip, "127.0.0.1");
  EXPECT_EQ(t_->info().local_addr.ss_family, AF_UNSPEC);  // not asked for yet
  t_->learn_local_address();
  EXPECT_EQ(format_address(reinterpret_cast<const sockaddr*>(&t_->info().local_addr), nullptr),
            "127.0.0.1:" + std::to_string(ntohs(addr_.sin_port)));
  EXPECT_FALSE(t_->info().tls);
}

TEST_F(PlainTransportTest, ABurstIsReadInOneWakeUp) {
  accept_pair();
  std::string burst(200 * 1024, 'b');
  send_peer(burst);
  run_until([&] { return evbuffer_get_length(t_->input()) >= burst.size(); });
  EXPECT_EQ(evbuffer_get_length(t_->input()), burst.size());
  EXPECT_LE(owner_.readable, 2) << "reads grow to the burst instead of 4 KiB at a time";
  EXPECT_EQ(t_->bytes_read(), burst.size());
}

TEST_F(PlainTransportTest, MessagesReuseTheReadChain) {
  block_cache_install();
  accept_pair();
  owner_.consume = false;
  const void* first = nullptr;
  for (int i = 0; i < 3; i++) {
    send_peer(std::string(64, 'm'));
    run_until([&] { return evbuffer_get_length(t_->input()) == 64; });
    const void* at = first_byte(t_->input());
    if (i == 0) first = at;
    EXPECT_EQ(at, first) << "message " << i << " was read into a fresh block";
    evbuffer_drain(t_->input(), 64);  // the block goes back to this thread's cache
    EXPECT_GE(block_cache_kept(4096), 1);
  }
}

TEST_F(PlainTransportTest, ReadLimitAndPauseStopReadingUntilThereIsRoom) {
  accept_pair();
  t_->set_read_limit(1000);
  send_peer(std::string(5000, 'x'));
  run_until([&] { return owner_.readable > 0; });
  loop_once();
  EXPECT_EQ(evbuffer_get_length(t_->input()), 1000u) << "no more than the limit is read";
  evbuffer_drain(t_->input(), 1000);
  t_->set_reading(false);
  t_->flush();
  loop_once();
  EXPECT_EQ(evbuffer_get_length(t_->input()), 0u) << "paused by the owner";
  t_->set_reading(true);
  t_->set_read_limit(SIZE_MAX);
  run_until([&] { return evbuffer_get_length(t_->input()) == 4000; });
  EXPECT_EQ(evbuffer_get_length(t_->input()), 4000u);
}

TEST_F(PlainTransportTest, FlushWritesAtOnceWhenIdle) {
  accept_pair();
  evbuffer_add(t_->output(), "hello", 5);
  t_->flush();
  EXPECT_EQ(evbuffer_get_length(t_->output()), 0u) << "written inside flush(), no wake-up";
  EXPECT_EQ(recv_peer(), "hello");
  EXPECT_EQ(t_->bytes_written(), 5u);
}

TEST_F(PlainTransportTest, ABackedUpOutputReportsWhenItDrains) {
  accept_pair(4096);
  std::string big(32 * Transport::kOutHigh, 'z');
  evbuffer_add(t_->output(), big.data(), big.size());
  t_->flush();
  EXPECT_TRUE(t_->congested()) << "the peer is not reading";
  loop_once();
  EXPECT_EQ(owner_.drained, 0);
  std::string got;
  run_until(
      [&] {
        got += recv_peer();
        return owner_.drained > 0 && got.size() == big.size();
      },
      5000);
  EXPECT_EQ(owner_.drained, 1);
  EXPECT_EQ(got.size(), big.size());
  EXPECT_FALSE(t_->congested());
}

TEST_F(PlainTransportTest, ShutdownWriteFlushesThenSendsFin) {
  accept_pair();
  evbuffer_add(t_->output(), "last", 4);
  t_->shutdown_write(30);
  run_until([&] { return owner_.saw(TransportEvent::kShutdown); });
  EXPECT_TRUE(owner_.saw(TransportEvent::kShutdown));
  EXPECT_EQ(recv_peer(), "last");
  char c;
  EXPECT_EQ(recv(peer_, &c, 1, MSG_DONTWAIT), 0) << "then EOF";
}

TEST_F(PlainTransportTest, ThePeersFinIsEofAndDataBeforeItIsRead) {
  accept_pair();
  owner_.consume = true;
  send_peer("bye");
  shutdown(peer_, SHUT_WR);
  run_until([&] { return owner_.saw(TransportEvent::kEof); });
  EXPECT_TRUE(owner_.saw(TransportEvent::kEof));
  EXPECT_EQ(t_->bytes_read(), 3u);
  evbuffer_add(t_->output(), "still", 5);
  t_->flush();
  EXPECT_EQ(recv_peer(), "still") << "half-closed: writing goes on";
}

TEST_F(PlainTransportTest, ConnectsAndFailsToConnect) {
  BackendAddr good;
  good.kind = BackendAddr::Kind::kTcp;
  good.host = "127.0.0.1";
  good.port = ntohs(addr_.sin_port);
  good.text = "tcp://127.0.0.1";
  PlainTransport c(base_);
  Owner o;
  c.set_handler(&o);
  std::string err;
  ASSERT_TRUE(c.connect(good, nullptr, err)) << err;
  run_until([&] { return !o.events.empty(); });
  ASSERT_FALSE(o.events.empty());
  EXPECT_EQ(o.events[0], TransportEvent::kConnected);

  close(listener_);  // nobody listens there now
  listener_ = socket(AF_INET, SOCK_STREAM, 0);
  PlainTransport refused(base_);
  Owner r;
  refused.set_handler(&r);
  ASSERT_TRUE(refused.connect(good, nullptr, err));
  run_until([&] { return !r.events.empty(); });
  ASSERT_FALSE(r.events.empty());
  EXPECT_EQ(r.events[0], TransportEvent::kError);
  EXPECT_EQ(refused.error(), strerror(ECONNREFUSED));

  BackendAddr missing;
  missing.kind = BackendAddr::Kind::kUnix;
  missing.path = "/nonexistent/wsgate-test.sock";
  PlainTransport gone(base_);
  Owner g;
  gone.set_handler(&g);
  ASSERT_TRUE(gone.connect(missing, nullptr, err));
  run_until([&] { return !g.events.empty(); });
  ASSERT_FALSE(g.events.empty());
  EXPECT_EQ(g.events[0], TransportEvent::kError);
  EXPECT_EQ(gone.error(), strerror(ENOENT));
}

}  // namespace
