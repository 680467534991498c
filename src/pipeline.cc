#include "pipeline.h"

#include <string.h>

#include <event2/buffer.h>

#include <vector>

#include "buffer.h"
#include "frame.h"
#include "hybi00_frame.h"
#include "relay_pipeline.h"
#include "stages.h"

namespace {

// Decode -> stages -> encode, for echo, bridges and a hybi-00 client of a ws:// backend.
class MessagePipeline final : public Pipeline {
 public:
  // Where client messages end up.
  enum class UpEnd { kEcho, kBytes, kBackendCodec };

  MessagePipeline(std::unique_ptr<Codec> client, std::unique_ptr<Codec> backend, UpEnd up_end,
                  uint8_t bridge_opcode, std::vector<std::unique_ptr<Stage>> stages,
                  PipelineEvents& events)
      : client_(std::move(client)),
        backend_(std::move(backend)),
        up_end_(up_end),
        bridge_opcode_(bridge_opcode),
        stages_(std::move(stages)),
        events_(events) {}

  Failure from_client(evbuffer* in, const Io& io) override;
  Failure from_backend(evbuffer* in, bool eof, const Io& io) override;
  bool close_client(evbuffer* out, uint16_t code, std::string_view reason) override {
    client_->encode_close(out, code, reason);
    return true;
  }
  void close_backend(evbuffer* out, uint16_t code, std::string_view reason) override {
    if (backend_) backend_->encode_close(out, code, reason);
  }
  void ping_client(evbuffer* out) override {
    client_->encode_ping(out, kKeepalive, sizeof kKeepalive - 1);
  }
  bool has_pings() const override { return client_->has_pings(); }
  bool take_client_frame_ended() override { return client_->take_frame_ended(); }
  bool client_mid_frame() const override { return client_->mid_frame(); }
  uint64_t messages_in() const override { return msgs_in_; }
  uint64_t messages_out() const override { return msgs_out_; }

 private:
  // Hands a piece to the stage after position `at`, or to the encoder past the last one.
  class Cursor final : public StageOut {
   public:
    Cursor(MessagePipeline& p, size_t at, bool up) : p_(p), at_(at), up_(up) {}
    Flow push(evbuffer* data, size_t n, const MessageMeta& m) override;

   private:
    MessagePipeline& p_;
    size_t at_;  // stages still ahead: up, stages_[at_..]; down, stages_[..at_)
    bool up_;
  };

  // What the client's codec decodes.
  class ClientSink final : public MessageSink {
   public:
    explicit ClientSink(MessagePipeline& p) : p_(p) {}
    void on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) override;
    void on_ping(const uint8_t* p, size_t n) override;
    void on_pong(const uint8_t* p, size_t n) override;
    void on_close(uint16_t code, std::string_view reason) override;
    bool blocked() const override;

   private:
    MessagePipeline& p_;
  };

  // What a ws:// backend sends a hybi-00 client, decoded with wsgate as its client.
  class BackendSink final : public MessageSink {
   public:
    explicit BackendSink(MessagePipeline& p) : p_(p) {}
    void on_data(evbuffer* src, size_t n, uint8_t opcode, bool first, bool fin) override;
    void on_ping(const uint8_t* p, size_t n) override;
    void on_pong(const uint8_t*, size_t) override {}
    void on_close(uint16_t code, std::string_view reason) override;
    bool blocked() const override;

   private:
    MessagePipeline& p_;
  };

  Flow run(evbuffer* data, size_t n, const MessageMeta& m, bool up);
  Flow up_end(evbuffer* data, size_t n, const MessageMeta& m);
  Flow to_client(evbuffer* data, size_t n, const MessageMeta& m);

  std::unique_ptr<Codec> client_;
  std::unique_ptr<Codec> backend_;  // a hybi-00 client of a ws:// backend only
  UpEnd up_end_;
  uint8_t bridge_opcode_;  // what a bridge's backend bytes become
  std::vector<std::unique_ptr<Stage>> stages_;
  PipelineEvents& events_;
  ClientSink client_sink_{*this};
  BackendSink backend_sink_{*this};
  Io io_ = {nullptr, nullptr};
  Failure failure_;
  uint64_t msgs_in_ = 0;
  uint64_t msgs_out_ = 0;
};

Flow MessagePipeline::Cursor::push(evbuffer* data, size_t n, const MessageMeta& m) {
  if (up_) {
    if (at_ == p_.stages_.size()) return p_.up_end(data, n, m);
    Cursor next(p_, at_ + 1, true);
    return p_.stages_[at_]->up(data, n, m, next);
  }
  if (at_ == 0) return p_.to_client(data, n, m);
  Cursor next(p_, at_ - 1, false);
  return p_.stages_[at_ - 1]->down(data, n, m, next);
}

// Runs a piece through every stage; a stage's failure is the side's it came from.
Flow MessagePipeline::run(evbuffer* data, size_t n, const MessageMeta& m, bool up) {
  Cursor c(*this, up ? 0 : stages_.size(), up);
  Flow f = c.push(data, n, m);
  if (f == Flow::kFail && !failure_.code) {
    for (const auto& s : stages_)
      if (s->error().code) {
        failure_ = {s->error().code, s->error().why, up ? Side::kClient : Side::kBackend};
        break;
      }
  }
  return f;
}

Flow MessagePipeline::up_end(evbuffer* data, size_t n, const MessageMeta& m) {
  switch (up_end_) {
    case UpEnd::kEcho:
      return to_client(data, n, m);
    case UpEnd::kBytes:
      move_bytes(data, io_.backend_out, n);
      break;
    case UpEnd::kBackendCodec:
      backend_->encode_data(io_.backend_out, data, n, m.opcode, m.first, m.fin);
      break;
  }
  return events_.full(Side::kBackend) ? Flow::kPause : Flow::kContinue;
}

Flow MessagePipeline::to_client(evbuffer* data, size_t n, const MessageMeta& m) {
  if (!io_.client_out) {
    evbuffer_drain(data, n);
    return Flow::kPause;
  }
  client_->encode_data(io_.client_out, data, n, m.opcode, m.first, m.fin);
  msgs_out_ += m.fin;
  return events_.full(Side::kClient) ? Flow::kPause : Flow::kContinue;
}

Failure MessagePipeline::from_client(evbuffer* in, const Io& io) {
  io_ = io;
  DecodeError err = client_->decode(in, client_sink_);
  if (err.code && !failure_.code) failure_ = {err.code, err.why, Side::kClient};
  return failure_;
}

Failure MessagePipeline::from_backend(evbuffer* in, bool eof, const Io& io) {
  io_ = io;
  if (failure_.code) {
    evbuffer_drain(in, evbuffer_get_length(in));
    return failure_;
  }
  if (backend_) {
    DecodeError err = backend_->decode(in, backend_sink_);
    if (err.code && !failure_.code) failure_ = {err.code, err.why, Side::kBackend};
    return failure_;
  }
  // A bridge: each read is one message, so that a client can act on every piece at once.
  size_t n = evbuffer_get_length(in);
  if (n) run(in, n, MessageMeta{bridge_opcode_, true, true, false}, false);
  for (size_t i = stages_.size(); eof && !failure_.code && i-- > 0;) {
    Cursor next(*this, i, false);
    if (stages_[i]->down_end(next) == Flow::kFail)
      failure_ = {stages_[i]->error().code, stages_[i]->error().why, Side::kBackend};
  }
  return failure_;
}

void MessagePipeline::ClientSink::on_data(evbuffer* src, size_t n, uint8_t opcode, bool first,
                                          bool fin) {
  bool to_backend = p_.up_end_ != UpEnd::kEcho;
  if (p_.failure_.code || (to_backend && !p_.io_.backend_out)) {
    evbuffer_drain(src, n);
    return;
  }
  p_.msgs_in_ += fin;
  p_.run(src, n, MessageMeta{opcode, first, fin, false}, true);
}

void MessagePipeline::ClientSink::on_ping(const uint8_t* p, size_t n) {
  if (p_.io_.client_out) p_.client_->encode_pong(p_.io_.client_out, p, n);
}

void MessagePipeline::ClientSink::on_pong(const uint8_t* p, size_t n) {
  if (n == sizeof kKeepalive - 1 && memcmp(p, kKeepalive, n) == 0) p_.events_.on_keepalive_pong();
}

void MessagePipeline::ClientSink::on_close(uint16_t code, std::string_view reason) {
  // Echo the code (section 5.5.1); an empty close gets an empty close.
  if (p_.io_.client_out) p_.client_->encode_close(p_.io_.client_out, code, "");
  if (p_.backend_ && p_.io_.backend_out)
    p_.backend_->encode_close(p_.io_.backend_out, close_code::kNormal, "client closed");
  p_.events_.on_peer_close(Side::kClient, code, reason, true);
}

bool MessagePipeline::ClientSink::blocked() const {
  return p_.failure_.code || p_.events_.full(Side::kClient) || p_.events_.full(Side::kBackend);
}

void MessagePipeline::BackendSink::on_data(evbuffer* src, size_t n, uint8_t opcode, bool first,
                                           bool fin) {
  if (p_.failure_.code || !p_.io_.client_out) {
    evbuffer_drain(src, n);
    return;
  }
  p_.run(src, n, MessageMeta{opcode, first, fin, false}, false);
}

void MessagePipeline::BackendSink::on_ping(const uint8_t* p, size_t n) {
  if (p_.io_.backend_out) p_.backend_->encode_pong(p_.io_.backend_out, p, n);
}

void MessagePipeline::BackendSink::on_close(uint16_t code, std::string_view reason) {
  // The backend's code goes back to it; the client's protocol has no codes to carry.
  if (p_.io_.backend_out) p_.backend_->encode_close(p_.io_.backend_out, code, "");
  if (p_.io_.client_out) p_.client_->encode_close(p_.io_.client_out, code, reason);
  p_.events_.on_peer_close(Side::kBackend, code, reason, true);
}

bool MessagePipeline::BackendSink::blocked() const {
  return p_.failure_.code || p_.events_.full(Side::kClient);
}

}  // namespace

PipelineFactory::PipelineFactory(const RouteConfig& rc)
    : max_message_size_(rc.limits.max_message_size), type_(rc.type), backend_(rc.backend.kind) {}

Framing PipelineFactory::framing(bool hybi00, std::string_view protocol) const {
  if (backend_ == BackendAddr::Kind::kEcho) return Framing::kBinary;  // echo keeps each type
  if (protocol == "base64") return Framing::kBase64;
  // hybi-00 carries only text, so binary data travels as base64.
  if (hybi00) return type_ == MessageType::kBinary ? Framing::kBase64 : Framing::kText;
  if (protocol == "binary") return Framing::kBinary;
  return type_ == MessageType::kText ? Framing::kText : Framing::kBinary;
}

std::unique_ptr<Pipeline> PipelineFactory::make(const PipelineSpec& spec,
                                                PipelineEvents& events) const {
  bool websocket = backend_ == BackendAddr::Kind::kWs || backend_ == BackendAddr::Kind::kWss;
  if (websocket && !spec.hybi00)
    return make_relay_pipeline(max_message_size_, spec.deflate, events);
  std::unique_ptr<Codec> client;
  if (spec.hybi00)
    client = std::make_unique<Hybi00Codec>(max_message_size_);
  else
    client = std::make_unique<Rfc6455Codec>(max_message_size_);
  std::vector<std::unique_ptr<Stage>> stages;
  if (websocket) {
    // wsgate speaks RFC 6455 to the backend itself, as its client.
    auto backend = std::make_unique<Rfc6455Codec>(max_message_size_, Rfc6455Codec::Role::kClient);
    if (type_ == MessageType::kBinary)
      stages.push_back(std::make_unique<Base64Stage>(Base64Stage::Mode::kBinaryOnly));
    else
      stages.push_back(std::make_unique<TextOnly>());
    return std::make_unique<MessagePipeline>(std::move(client), std::move(backend),
                                             MessagePipeline::UpEnd::kBackendCodec, kOpText,
                                             std::move(stages), events);
  }
  if (backend_ == BackendAddr::Kind::kEcho)
    return std::make_unique<MessagePipeline>(std::move(client), nullptr,
                                             MessagePipeline::UpEnd::kEcho, kOpBinary,
                                             std::move(stages), events);
  if (spec.framing == Framing::kText) stages.push_back(std::make_unique<Utf8HoldBack>());
  if (spec.framing == Framing::kBase64)
    stages.push_back(std::make_unique<Base64Stage>(Base64Stage::Mode::kAll));
  uint8_t op = spec.framing == Framing::kBinary ? kOpBinary : kOpText;
  return std::make_unique<MessagePipeline>(
      std::move(client), nullptr, MessagePipeline::UpEnd::kBytes, op, std::move(stages), events);
}
