#include "relay_pipeline.h"

#include <string.h>

#include <event2/buffer.h>

#include "frame.h"
#include "relay.h"

namespace {

class RelayPipeline final : public Pipeline {
 public:
  RelayPipeline(uint64_t max, bool deflate, PipelineEvents& events)
      : up_(FrameRules{true, deflate, max}),
        down_(FrameRules{false, deflate, max}),
        events_(events) {}

  Failure from_client(evbuffer* in, const Io& io) override {
    if (!io.backend_out) {
      evbuffer_drain(in, evbuffer_get_length(in));
      return {};
    }
    DecodeError err = up_.relay(in, io.backend_out, up_watch_);
    return {err.code, err.why, Side::kClient};
  }
  Failure from_backend(evbuffer* in, bool, const Io& io) override {
    if (!io.client_out) {
      evbuffer_drain(in, evbuffer_get_length(in));
      return {};
    }
    DecodeError err = down_.relay(in, io.client_out, down_watch_);
    return {err.code, err.why, Side::kBackend};
  }
  bool close_client(evbuffer* out, uint16_t code, std::string_view reason) override {
    if (!down_.at_boundary()) return false;
    uint8_t p[kMaxControlPayload];
    size_t n;
    close_payload(code, reason, p, n);
    encode_server_control(out, kOpClose, p, n);
    return true;
  }
  // wsgate's own frames toward the backend may interleave with a fragmented message.
  void close_backend(evbuffer* out, uint16_t code, std::string_view reason) override {
    if (!up_.at_boundary()) return;
    uint8_t p[kMaxControlPayload];
    size_t n;
    close_payload(code, reason, p, n);
    encode_masked_control(out, kOpClose, p, n);
  }
  void ping_client(evbuffer* out) override {
    encode_server_control(out, kOpPing, kKeepalive, sizeof kKeepalive - 1);
  }
  bool client_at_boundary() const override { return down_.at_boundary(); }
  bool has_pings() const override { return true; }
  bool take_client_frame_ended() override { return up_.take_frame_ended(); }
  bool client_mid_frame() const override { return up_.mid_frame(); }
  bool relays_closes() const override { return true; }
  uint64_t messages_in() const override { return up_.messages(); }
  uint64_t messages_out() const override { return down_.messages(); }

 private:
  // Watches one direction's control frames and backpressure.
  class Watch final : public RelayObserver {
   public:
    Watch(PipelineEvents& events, Side from) : events_(events), from_(from) {}
    bool on_relay_control(uint8_t opcode, const uint8_t* p, size_t n) override {
      // Pongs to wsgate's own pings end here.
      if (from_ == Side::kClient && opcode == kOpPong && n == sizeof kKeepalive - 1 &&
          memcmp(p, kKeepalive, n) == 0) {
        events_.on_keepalive_pong();
        return false;
      }
      return true;
    }
    void on_relay_close(uint16_t code, std::string_view reason) override {
      events_.on_peer_close(from_, code, reason, false);
    }
    bool relay_blocked() const override {
      return events_.full(from_ == Side::kClient ? Side::kBackend : Side::kClient);
    }

   private:
    PipelineEvents& events_;
    Side from_;
  };

  FrameRelay up_;
  FrameRelay down_;
  PipelineEvents& events_;
  Watch up_watch_{events_, Side::kClient};
  Watch down_watch_{events_, Side::kBackend};
};

}  // namespace

std::unique_ptr<Pipeline> make_relay_pipeline(uint64_t max_message_size, bool deflate,
                                              PipelineEvents& events) {
  return std::make_unique<RelayPipeline>(max_message_size, deflate, events);
}
