// TlsTransport on real loopback sockets against a real OpenSSL peer in a thread of its own
// (blocking calls, as an independent client or server would make them), with a certificate
// made here with OpenSSL's APIs: 1 MiB each way on both sides, the read limit and pauses with
// bytes waiting inside OpenSSL, close_notify and a dirty close as EOF, half-close, and the
// failures: a peer that does not speak TLS, a certificate that does not verify, renegotiation.
#include "tls_transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "block_cache.h"
#include "config.h"
#include "loopback_test.h"
#include "tls.h"
#include "tls_server.h"

namespace {

constexpr size_t kMiB = 1 << 20;

// As wsgate's main does first thing: OpenSSL takes allocator hooks only before it allocates.
const bool kBlockCache = [] {
  block_cache_install();
  return true;
}();

// A self-signed P-256 certificate for localhost and 127.0.0.1, written as PEM into `dir`.
void make_cert(const std::string& dir) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, key);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  X509_add_ext(x, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(x, key, EVP_sha256());
  FILE* f = fopen((dir + "/cert.pem").c_str(), "w");
  PEM_write_X509(f, x);
  fclose(f);
  f = fopen((dir + "/key.pem").c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
}

// 1 MiB (or n bytes) that no offset error can pass for the right bytes.
std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>((i * 7 + i / 251) & 0xFF);
  return s;
}

// Blocking SSL_write of all of `data`.
bool write_all(SSL* ssl, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    size_t n = 0;
    if (SSL_write_ex(ssl, data.data() + off, data.size() - off, &n) != 1) return false;
    off += n;
  }
  return true;
}

// Blocking reads until `want` bytes or the end; what came.
std::string read_upto(SSL* ssl, size_t want) {
  std::string got;
  char buf[65536];
  while (got.size() < want) {
    size_t n = 0;
    if (SSL_read_ex(ssl, buf, sizeof buf, &n) != 1) break;
    got.append(buf, n);
  }
  return got;
}

// Records what the transport reports; echoes or keeps the input as the test wants.
struct Owner final : TransportHandler {
  void on_readable(Transport& t) override {
    size_t len = evbuffer_get_length(t.input());
    largest = std::max(largest, len);
    if (echo) {
      evbuffer_add_buffer(t.output(), t.input());
      t.flush();
    } else if (consume) {
      std::string chunk(len, '\0');
      evbuffer_remove(t.input(), &chunk[0], len);
      got += chunk;
    }
  }
  void on_drained(Transport&) override {}
  void on_event(Transport&, TransportEvent ev) override { events.push_back(ev); }
  bool saw(TransportEvent ev) const {
    for (TransportEvent e : events)
      if (e == ev) return true;
    return false;
  }
  bool echo = false;
  bool consume = true;
  size_t largest = 0;
  std::string got;
  std::vector<TransportEvent> events;
};

class TlsTransportTest : public LoopbackTest {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/wsgate-tls-XXXXXX";
    dir_ = mkdtemp(tmpl);
    make_cert(dir_);
    Config c;
    c.tls_cert = dir_ + "/cert.pem";
    c.tls_key = dir_ + "/key.pem";
    std::vector<std::string> errors;
    server_ = TlsServer::build(c, errors);
    ASSERT_TRUE(server_) << (errors.empty() ? "" : errors[0]);
    server_ctx_ = server_->context();
    peer_ctx_ = SSL_CTX_new(TLS_client_method());
    open_loopback();
  }
  void TearDown() override {
    t_.reset();  // closes our socket first: a peer blocked in a read gets its EOF
    done_ = true;
    if (peer_.joinable()) peer_.join();
    close_loopback();
    server_.reset();
    SSL_CTX_free(peer_ctx_);
    std::string rm = "rm -rf " + dir_;
    if (system(rm.c_str()) != 0) ADD_FAILURE() << rm;
  }
  // The peer is a TLS client (or, with `tls` false, a bare TCP one) running `body` in a
  // thread; the accepted side goes under a TlsTransport.
  void accept_peer(std::function<void(SSL*, int)> body, bool tls = true) {
    peer_ = std::thread([this, body, tls] {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      timeval tv = {10, 0};  // no test hangs on a peer that waits for nothing
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_) != 0) return;
      SSL* ssl = nullptr;
      if (tls) {
        ssl = SSL_new(peer_ctx_);
        SSL_set_fd(ssl, fd);
        SSL_set_tlsext_host_name(ssl, "localhost");
        if (SSL_connect(ssl) != 1) ssl_failed_ = true;
      }
      if (!ssl_failed_) body(ssl, fd);
      peer_done_ = true;
      while (!done_) usleep(1000);
      if (ssl) SSL_free(ssl);
      close(fd);
    });
    sockaddr_storage from;
    socklen_t len = sizeof from;
    int fd = accept4(listener_, reinterpret_cast<sockaddr*>(&from), &len, SOCK_NONBLOCK);
    ASSERT_GE(fd, 0);
    t_ = TlsTransport::accept(base_, fd, reinterpret_cast<sockaddr*>(&from), server_ctx_);
    ASSERT_TRUE(t_);
    t_->set_handler(&owner_);
  }
  // The peer is a TLS server in a thread, running `body`; the TlsTransport connects to it
  // with a session for `host` (verified against the test certificate when `verify`).
  void connect_to_peer(std::function<void(SSL*)> body, const std::string& host, bool verify) {
    peer_ = std::thread([this, body] {
      int fd = accept(listener_, nullptr, nullptr);
      SSL* ssl = SSL_new(server_ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) body(ssl);
      peer_done_ = true;
      while (!done_) usleep(1000);
      SSL_free(ssl);
      close(fd);
    });
    std::string err;
    client_ctx_.reset(tls_client_context(verify, dir_ + "/cert.pem", err), SSL_CTX_free);
    ASSERT_TRUE(client_ctx_) << err;
    auto t =
        std::make_unique<TlsTransport>(base_, tls_client_session(client_ctx_.get(), host, verify));
    t->set_handler(&owner_);
    BackendAddr a;
    a.kind = BackendAddr::Kind::kWss;
    a.host = "127.0.0.1";
    a.port = ntohs(addr_.sin_port);
    a.text = "wss://" + host;
    ASSERT_TRUE(t->connect(a, nullptr, err)) << err;
    t_ = std::move(t);
  }
  std::string dir_;
  std::unique_ptr<TlsServer> server_;
  SSL_CTX* server_ctx_ = nullptr;  // server_'s
  SSL_CTX* peer_ctx_ = nullptr;
  std::shared_ptr<SSL_CTX> client_ctx_;
  std::thread peer_;
  std::atomic<bool> done_{false};
  std::atomic<bool> peer_done_{false};
  std::atomic<bool> ssl_failed_{false};
  Owner owner_;
  std::unique_ptr<Transport> t_;
};

TEST_F(TlsTransportTest, AcceptedEchoesAMebibyteEachWayInLargeReads) {
  const std::string data = pattern(kMiB);
  std::string back;
  owner_.echo = true;
  accept_peer([&](SSL* ssl, int) {
    if (write_all(ssl, data)) back = read_upto(ssl, data.size());
  });
  run_until([&] { return peer_done_.load(); }, 20000);
  ASSERT_TRUE(peer_done_);
  EXPECT_TRUE(back == data) << "echoed " << back.size() << " bytes, not the 1 MiB sent";
  EXPECT_GE(owner_.largest, 16384u) << "reads come a record or more at a time";
  EXPECT_EQ(t_->bytes_read(), kMiB);
  EXPECT_EQ(t_->bytes_written(), kMiB);
  EXPECT_TRUE(t_->info().tls);
  EXPECT_EQ(t_->info().tls_version, "TLSv1.3");
  EXPECT_EQ(t_->info().sni, "localhost");
  EXPECT_TRUE(owner_.events.empty());
}

TEST_F(TlsTransportTest, ConnectedSendsAndReceivesAMebibyte) {
  const std::string data = pattern(kMiB);
  connect_to_peer(
      [&](SSL* ssl) {
        std::string got = read_upto(ssl, data.size());
        write_all(ssl, got);
      },
      "localhost", true);
  run_until([&] { return owner_.saw(TransportEvent::kConnected); });
  ASSERT_TRUE(owner_.saw(TransportEvent::kConnected)) << t_->error();
  evbuffer_add(t_->output(), data.data(), data.size());
  t_->flush();
  run_until([&] { return owner_.got.size() >= data.size(); }, 20000);
  EXPECT_TRUE(owner_.got == data) << "got " << owner_.got.size() << " bytes back";
}

TEST_F(TlsTransportTest, SmallMessagesReuseOpenSslRecordBuffers) {
  ASSERT_TRUE(kBlockCache);
  tls_cache_record_buffers();
  constexpr int kMessages = 20;
  std::atomic<int> echoed{0};
  std::atomic<bool> go{false};
  owner_.echo = true;
  accept_peer([&](SSL* ssl, int) {
    for (int i = 0; i < kMessages; i++) {
      while (i == 2 && !go) usleep(1000);  // until the count below has its starting point
      std::string m(64, static_cast<char>('a' + i));
      if (!write_all(ssl, m) || read_upto(ssl, m.size()) != m) return;
      echoed++;
    }
  });
  run_until([&] { return echoed >= 2; });
  unsigned long before = block_cache_reused();
  go = true;
  run_until([&] { return peer_done_.load(); });
  ASSERT_EQ(echoed, kMessages);
  // Each message takes three blocks from this thread's cache: the read chain, OpenSSL's read
  // buffer and its write buffer. Without OpenSSL's two it would be one per message; the bound
  // leaves room for a miss or two.
  EXPECT_GE(block_cache_reused() - before, 2u * (kMessages - 2));
}

TEST_F(TlsTransportTest, ReadLimitAndPauseHoldBytesThatOpenSslHasAlreadyRead) {
  const std::string data = pattern(kMiB);
  owner_.consume = false;
  accept_peer([&](SSL* ssl, int) { write_all(ssl, data); });
  t_->set_read_limit(64 * 1024);
  run_until([&] { return evbuffer_get_length(t_->input()) >= 64 * 1024; });
  run_until([] { return false; }, 200);
  EXPECT_EQ(evbuffer_get_length(t_->input()), 64u * 1024) << "the limit holds exactly";
  // Paused, nothing comes even with room; resumed, what OpenSSL holds comes without any
  // socket event.
  t_->set_reading(false);
  std::string got;
  auto take = [&] {
    size_t len = evbuffer_get_length(t_->input());
    std::string chunk(len, '\0');
    evbuffer_remove(t_->input(), &chunk[0], len);
    got += chunk;
    t_->flush();
  };
  take();
  run_until([] { return false; }, 200);
  EXPECT_EQ(evbuffer_get_length(t_->input()), 0u) << "no reads while paused";
  t_->set_reading(true);
  for (int i = 0; i < 2000 && got.size() < data.size(); i++) {
    run_until([&] { return evbuffer_get_length(t_->input()) > 0; }, 50);
    take();
  }
  EXPECT_TRUE(got == data) << "got " << got.size() << " of " << data.size();
}

TEST_F(TlsTransportTest, CloseNotifyIsEofAndWritingGoesOnUntilShutdown) {
  std::string after;
  int shut = 0;
  accept_peer([&](SSL* ssl, int) {
    write_all(ssl, "bye");
    SSL_shutdown(ssl);  // our close_notify; the socket stays open
    after = read_upto(ssl, 1000);
    shut = SSL_get_shutdown(ssl);
  });
  run_until([&] { return owner_.saw(TransportEvent::kEof); });
  EXPECT_EQ(owner_.got, "bye");
  ASSERT_TRUE(owner_.saw(TransportEvent::kEof));
  evbuffer_add(t_->output(), "still here", 10);
  t_->shutdown_write(5);
  run_until([&] { return owner_.saw(TransportEvent::kShutdown) && peer_done_; });
  EXPECT_TRUE(owner_.saw(TransportEvent::kShutdown));
  EXPECT_FALSE(owner_.saw(TransportEvent::kError)) << t_->error();
  EXPECT_EQ(after, "still here");
  EXPECT_TRUE(shut & SSL_RECEIVED_SHUTDOWN) << "our close_notify reached the peer";
}

TEST_F(TlsTransportTest, DirtyCloseIsEof) {
  accept_peer([&](SSL* ssl, int fd) {
    write_all(ssl, "last words");
    ::shutdown(fd, SHUT_RDWR);  // no close_notify
  });
  run_until([&] { return !owner_.events.empty(); });
  EXPECT_EQ(owner_.got, "last words");
  ASSERT_EQ(owner_.events.size(), 1u);
  EXPECT_EQ(owner_.events[0], TransportEvent::kEof) << t_->error();
}

TEST_F(TlsTransportTest, PlainHttpFailsTheHandshake) {
  accept_peer(
      [](SSL*, int fd) {
        const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        EXPECT_EQ(write(fd, req, sizeof req - 1), static_cast<ssize_t>(sizeof req - 1));
      },
      false);
  run_until([&] { return !owner_.events.empty(); });
  ASSERT_EQ(owner_.events.size(), 1u);
  EXPECT_EQ(owner_.events[0], TransportEvent::kError);
  EXPECT_EQ(t_->error(), "plain HTTP on a TLS port");
}

TEST_F(TlsTransportTest, ShutdownBeforeTheHandshakeDropsTheOutput) {
  accept_peer([](SSL*, int) {}, false);  // connects and says nothing
  evbuffer_add(t_->output(), "HTTP/1.1 408 \r\n\r\n", 17);
  t_->shutdown_write(5);
  run_until([&] { return !owner_.events.empty(); });
  ASSERT_EQ(owner_.events.size(), 1u);
  EXPECT_EQ(owner_.events[0], TransportEvent::kError);
}

TEST_F(TlsTransportTest, VerifyFailureNamesTheReason) {
  connect_to_peer([](SSL*) {}, "other.example", true);
  run_until([&] { return !owner_.events.empty(); });
  ASSERT_EQ(owner_.events.size(), 1u);
  EXPECT_EQ(owner_.events[0], TransportEvent::kError);
  EXPECT_NE(t_->error().find("certificate verify failed (hostname mismatch)"), std::string::npos)
      << t_->error();
}

TEST_F(TlsTransportTest, RenegotiationEndsTheConnection) {
  SSL_CTX_set_max_proto_version(peer_ctx_, TLS1_2_VERSION);
  accept_peer([&](SSL* ssl, int) {
    write_all(ssl, "before");
    SSL_renegotiate(ssl);
    SSL_do_handshake(ssl);
    read_upto(ssl, 1);
  });
  run_until([&] { return !owner_.events.empty(); });
  EXPECT_EQ(owner_.got, "before");
  ASSERT_EQ(owner_.events.size(), 1u);
  EXPECT_EQ(owner_.events[0], TransportEvent::kError);
  EXPECT_NE(t_->error().find("renegotiate"), std::string::npos) << t_->error();
}

}  // namespace
