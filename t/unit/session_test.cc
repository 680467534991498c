// Session's states, deadlines and close machine, driven through fake transports: the test
// plays the client and the backend, and a real event base runs the deadlines.
#include "session.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "codec.h"
#include "fake_transport.h"
#include "log.h"
#include "runtime.h"
#include "test_frames.h"

namespace {

using test_frames::close_body;
using test_frames::frame;

const char kConfig[] =
    "[server]\nhandshake_timeout = 150ms\n"
    "[route echo]\npath = /echo\nbackend = echo\n"
    "[route idle]\npath = /idle\nbackend = echo\nidle_timeout = 100ms\n"
    "[route ping]\npath = /ping\nbackend = echo\nping_interval = 100ms\n"
    "[route tcp]\npath = /tcp\nbackend = tcp://127.0.0.1:9\nconnect_timeout = 80ms\n";

std::string upgrade(const std::string& path) {
  return "GET " + path +
         " HTTP/1.1\r\nHost: gw.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// A session on a fresh client transport; the host owns it from here.
class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Config c;
    std::vector<std::string> errors;
    ASSERT_TRUE(config_parse(kConfig, "test.ini", c, errors));
    rt_ = build_runtime(c, errors);
    ASSERT_NE(rt_, nullptr);
    auto t = std::make_unique<FakeTransport>(&client_gone_);
    client_ = t.get();
    host_.session = new Session(host_, rt_, std::move(t), false);
  }

  // The client's request, answered with a 101.
  void open(const std::string& path) {
    client_->send(upgrade(path));
    if (path == "/tcp") {
      ASSERT_NE(host_.backend, nullptr);
      EXPECT_EQ(client_->take(), "") << "no 101 before the backend is connected";
      host_.backend->raise(TransportEvent::kConnected);
    }
    std::string answer = client_->take();
    ASSERT_TRUE(starts_with(answer, "HTTP/1.1 101 ")) << answer;
    EXPECT_NE(answer.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
              std::string::npos);
  }

  bool done() const { return host_.session == nullptr; }

  FakeHost host_;
  std::shared_ptr<const Runtime> rt_;
  FakeTransport* client_ = nullptr;
  bool client_gone_ = false;
};

TEST_F(SessionTest, EchoesAndCompletesTheCloseHandshake) {
  open("/echo");
  EXPECT_EQ(client_->read_limit, Session::kInHigh) << "reads are no longer capped at the head";
  client_->send(frame(kOpText, "hello", true));
  EXPECT_EQ(client_->take(), frame(kOpText, "hello", false));
  client_->send(frame(kOpClose, close_body(1000), true));
  EXPECT_EQ(client_->take(), frame(kOpClose, close_body(1000), false));
  EXPECT_TRUE(client_->shut) << "FIN after the close frame";
  client_->raise(TransportEvent::kShutdown);
  EXPECT_FALSE(done()) << "waits for the client's EOF";
  client_->raise(TransportEvent::kEof);
  EXPECT_TRUE(done());
  EXPECT_TRUE(client_gone_);
  const WorkerCounters& c = host_.counters();
  EXPECT_EQ(c.upgraded.load(), 1u);
  EXPECT_EQ(c.messages_in.load(), 1u);
  EXPECT_EQ(c.messages_out.load(), 1u);
  EXPECT_EQ(c.rejected.load(), 0u);
}

TEST_F(SessionTest, UnknownPathIs404AndClosesAfterTheFlush) {
  client_->send(upgrade("/nope"));
  std::string answer = client_->take();
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 404 ")) << answer;
  EXPECT_TRUE(client_->shut);
  EXPECT_EQ(host_.counters().rejected.load(), 1u);
  client_->raise(TransportEvent::kEof);
  EXPECT_TRUE(done());
}

TEST_F(SessionTest, IncompleteRequestIs408AtHandshakeTimeout) {
  client_->send("GET /echo HTTP/1.1\r\n");
  host_.run_until([&] { return evbuffer_get_length(client_->output()) > 0; }, 2000);
  EXPECT_TRUE(starts_with(client_->take(), "HTTP/1.1 408 "));
  EXPECT_TRUE(client_->shut);
}

TEST_F(SessionTest, ClientEofDuringTheHandshakeEndsTheSession) {
  client_->send("GET /echo HTTP/1.1\r\n");
  client_->raise(TransportEvent::kEof);
  EXPECT_TRUE(done());
}

TEST_F(SessionTest, BridgeRelaysBothWaysAndTheBackendsEofClosesWith1000) {
  open("/tcp");
  FakeTransport* backend = host_.backend;
  client_->send(frame(kOpBinary, "abc", true));
  EXPECT_EQ(backend->take(), "abc");
  backend->send("xyz");
  EXPECT_EQ(client_->take(), frame(kOpBinary, "xyz", false));
  backend->raise(TransportEvent::kEof);
  EXPECT_EQ(client_->take(),
            frame(kOpClose, close_body(1000, "backend closed the connection"), false));
  EXPECT_TRUE(client_->shut);
  EXPECT_TRUE(backend->shut);
}

TEST_F(SessionTest, BackendRefusingTheConnectIs502) {
  client_->send(upgrade("/tcp"));
  ASSERT_NE(host_.backend, nullptr);
  host_.backend->raise(TransportEvent::kError);
  std::string answer = client_->take();
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 502 ")) << answer;
  EXPECT_TRUE(host_.backend_gone);
  EXPECT_EQ(host_.counters().backend_failures.load(), 1u);
}

TEST_F(SessionTest, ConnectThatCannotStartIs502AtOnce) {
  host_.refuse_connect = true;
  client_->send(upgrade("/tcp"));
  EXPECT_TRUE(starts_with(client_->take(), "HTTP/1.1 502 "));
}

TEST_F(SessionTest, SlowConnectIs504AtConnectTimeout) {
  client_->send(upgrade("/tcp"));
  host_.run_until([&] { return evbuffer_get_length(client_->output()) > 0; }, 2000);
  EXPECT_TRUE(starts_with(client_->take(), "HTTP/1.1 504 "));
  EXPECT_TRUE(host_.backend_gone);
}

TEST_F(SessionTest, AFullClientPausesTheBackendUntilItDrains) {
  open("/tcp");
  FakeTransport* backend = host_.backend;
  backend->send(std::string(Transport::kOutHigh + 1000, 'x'));
  EXPECT_FALSE(backend->reading) << "the client's output is over kOutHigh";
  EXPECT_TRUE(client_->reading);
  client_->take();
  client_->drained();
  EXPECT_TRUE(backend->reading);
}

TEST_F(SessionTest, AFullBackendPausesTheClientUntilItDrains) {
  open("/tcp");
  FakeTransport* backend = host_.backend;
  client_->send(frame(kOpBinary, std::string(Transport::kOutHigh + 1000, 'y'), true));
  EXPECT_FALSE(client_->reading);
  backend->take();
  backend->drained();
  EXPECT_TRUE(client_->reading);
}

TEST_F(SessionTest, ClientVanishingFlushesTheBackendThenEnds) {
  open("/tcp");
  FakeTransport* backend = host_.backend;
  client_->send(frame(kOpBinary, "last words", true));
  client_->raise(TransportEvent::kError);
  EXPECT_TRUE(client_gone_);
  EXPECT_TRUE(backend->shut) << "the backend is flushed, then closed";
  EXPECT_EQ(backend->take(), "last words");
  EXPECT_FALSE(done());
  backend->raise(TransportEvent::kShutdown);
  EXPECT_TRUE(done());
}

TEST_F(SessionTest, IdleTimeoutClosesWith1001) {
  open("/idle");
  host_.run_until([&] { return evbuffer_get_length(client_->output()) > 0; }, 2000);
  EXPECT_EQ(client_->take(), frame(kOpClose, close_body(1001, "idle timeout"), false));
}

TEST_F(SessionTest, PingIntervalPingsAndASilentClientIsClosed) {
  open("/ping");
  host_.run_until([&] { return evbuffer_get_length(client_->output()) > 0; }, 2000);
  EXPECT_EQ(client_->take(), frame(kOpPing, "wsgate-keepalive", false));
  client_->send(frame(kOpPong, "wsgate-keepalive", true));
  host_.run_until([&] { return evbuffer_get_length(client_->output()) > 0; }, 2000);
  EXPECT_EQ(client_->take(), frame(kOpPing, "wsgate-keepalive", false)) << "answered: pinged again";
  // No pong within the window: the client is dead when the next ping would be due.
  host_.run_until([&] { return client_->shut; }, 2000);
  EXPECT_EQ(client_->take(),
            frame(kOpClose, close_body(1001, "no pong within ping_interval"), false));
}

TEST_F(SessionTest, TheFirstCloseCodeIsTheOneLogged) {
  char path[] = "/tmp/wsgate-session-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string err;
  ASSERT_TRUE(log_open("stderr", path, err)) << err;
  open("/tcp");
  // An unmasked client frame fails the connection with 1002; the backend's EOF comes after.
  client_->send(frame(kOpText, "bad", false));
  EXPECT_EQ(client_->take(),
            frame(kOpClose, close_body(1002, "client frame is not masked"), false));
  host_.backend->raise(TransportEvent::kEof);
  client_->raise(TransportEvent::kEof);
  if (!done()) host_.backend->raise(TransportEvent::kShutdown);
  ASSERT_TRUE(done());
  ASSERT_TRUE(log_open("stderr", "off", err));
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  unlink(path);
  EXPECT_NE(ss.str().find("route=tcp"), std::string::npos) << ss.str();
  EXPECT_NE(ss.str().find("close=1002"), std::string::npos) << ss.str();
}

}  // namespace
