// Test helpers: a Transport with no socket behind it, and a SessionHost that hands out such
// transports for backends. The test plays both peers: it puts bytes into a transport's input,
// reads its output, and raises the events a socket would.
#pragma once

#include <event2/buffer.h>
#include <event2/event.h>

#include <memory>
#include <string>

#include "session.h"
#include "session_host.h"
#include "transport.h"

class FakeTransport final : public Transport {
 public:
  // `gone` is set when the session frees this transport.
  explicit FakeTransport(bool* gone = nullptr)
      : in_(evbuffer_new()), out_(evbuffer_new()), gone_(gone) {
    info_ = std::make_unique<ConnInfo>();
    info_->peer = "192.0.2.7:40000";
    info_->peer_ip = "192.0.2.7";
  }
  ~FakeTransport() override {
    if (gone_) *gone_ = true;
    evbuffer_free(in_);
    evbuffer_free(out_);
  }
  evbuffer* input() override { return in_; }
  evbuffer* output() override { return out_; }
  void flush() override {}
  void set_reading(bool on) override { reading = on; }
  void set_read_limit(size_t bytes) override { read_limit = bytes; }
  void shutdown_write(int) override { shut = true; }
  std::string error() const override { return why; }

  // The peer sends bytes: they land in the input and the owner hears of them.
  void send(const std::string& s) {
    evbuffer_add(in_, s.data(), s.size());
    handler_->on_readable(*this);
  }
  // The peer reads everything the owner wrote.
  std::string take() {
    std::string s(evbuffer_get_length(out_), '\0');
    evbuffer_remove(out_, &s[0], s.size());
    return s;
  }
  void raise(TransportEvent ev) { handler_->on_event(*this, ev); }
  void drained() { handler_->on_drained(*this); }

  bool reading = true;
  bool shut = false;
  size_t read_limit = 0;
  std::string why = "connection refused";

 private:
  evbuffer* in_;
  evbuffer* out_;
  bool* gone_;
};

// A worker stand-in with a real event base, so that deadlines fire as they would.
class FakeHost final : public SessionHost {
 public:
  FakeHost() : base_(event_base_new()) {}
  ~FakeHost() override {
    delete session;
    event_base_free(base_);
  }
  event_base* base() override { return base_; }
  WorkerCounters& counters() override { return counters_; }
  std::unique_ptr<Transport> connect_backend(const BackendAddr&, SSL_CTX*, bool,
                                             std::string& err) override {
    connects++;
    if (refuse_connect) {
      err = "cannot connect to the backend: refused at once";
      return nullptr;
    }
    auto t = std::make_unique<FakeTransport>(&backend_gone);
    backend = t.get();
    return t;
  }
  void session_done(Session* s) override {
    delete s;
    session = nullptr;
  }
  // Runs the loop until `done` or `ms` pass.
  template <typename F>
  void run_until(F done, int ms) {
    for (int i = 0; i < ms && !done(); i++) {
      timeval tv = {0, 1000};
      event_base_loopexit(base_, &tv);
      event_base_dispatch(base_);
    }
  }

  Session* session = nullptr;
  FakeTransport* backend = nullptr;  // the last one handed out
  bool backend_gone = false;
  bool refuse_connect = false;
  int connects = 0;

 private:
  event_base* base_;
  WorkerCounters counters_;
};
