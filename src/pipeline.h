// A session's data path: what turns one side's bytes into the other side's. Every mode is a
// composition made by the route's PipelineFactory, not a branch in Session:
//
//   mode                     client -> backend                 backend -> client
//   echo                     decode -> encode (to the client)  -
//   bridge                   decode -> [base64] -> bytes       bytes -> [UTF-8 hold-back | base64]
//   -> encode ws:// proxy              frame relay (client rules)        frame relay (server rules)
//   hybi-00 client on ws://  hybi-00 decode -> RFC 6455 encode RFC 6455 decode -> [base64 | text
//   only] -> hybi-00 encode
//
// A pipeline has no sockets, timers or logs: it reads what the session hands it, writes into
// the outputs it is given, and reports closes, keepalive pongs and failures.
#pragma once

#include <memory>
#include <string_view>

#include "codec.h"
#include "config.h"

struct evbuffer;

enum class Side : uint8_t { kClient, kBackend };

// Why the connection must fail: the close code and whose data was bad.
struct Failure {
  uint16_t code = 0;  // 0: none
  const char* why = "";
  Side by = Side::kClient;
};

// What a pipeline tells the session: lifecycle, never data.
class PipelineEvents {
 public:
  virtual ~PipelineEvents() = default;
  // A peer's close frame (kNoStatus when it carried no code). `answered`: the pipeline wrote
  // the closes itself and the handshake is over; otherwise it relayed the frame and the other
  // side's answer is still to come.
  virtual void on_peer_close(Side from, uint16_t code, std::string_view reason, bool answered) = 0;
  // The client answered wsgate's keepalive ping.
  virtual void on_keepalive_pong() = 0;
  // True while the output toward `to` is full: the pipeline stops where it can.
  virtual bool full(Side to) const = 0;
};

class Pipeline {
 public:
  // Where output goes; null for a side that takes nothing more (closing or gone).
  struct Io {
    evbuffer* client_out;
    evbuffer* backend_out;
  };
  static constexpr char kKeepalive[] = "wsgate-keepalive";  // wsgate's own ping payload

  virtual ~Pipeline() = default;
  // Consumes what it can of the client's bytes.
  virtual Failure from_client(evbuffer* in, const Io& io) = 0;
  // Consumes what it can of the backend's bytes; `eof`: no more will come.
  virtual Failure from_backend(evbuffer* in, bool eof, const Io& io) = 0;
  // wsgate's own close toward the client; false inside a relayed frame, where none may go.
  virtual bool close_client(evbuffer* out, uint16_t code, std::string_view reason) = 0;
  // wsgate's own close toward a WebSocket backend; nothing for a bridge.
  virtual void close_backend(evbuffer* out, uint16_t code, std::string_view reason) = 0;
  virtual void ping_client(evbuffer* out) = 0;
  // False while a relayed frame toward the client is half through.
  virtual bool client_at_boundary() const { return true; }
  // frame_timeout's view of the client's frames: whether one was read whole since the last
  // call, and whether one is partly consumed (see Codec::take_frame_ended).
  virtual bool take_client_frame_ended() = 0;
  virtual bool client_mid_frame() const = 0;
  // False where the client's protocol has no pings (hybi-00).
  virtual bool has_pings() const = 0;
  // True where closes are relayed end to end rather than answered by wsgate.
  virtual bool relays_closes() const { return false; }
  virtual uint64_t messages_in() const = 0;
  virtual uint64_t messages_out() const = 0;
};

// What a bridged route's client messages carry, settled by the handshake.
enum class Framing {
  kText,    // UTF-8 text frames
  kBinary,  // binary frames
  kBase64,  // text frames holding base64
};

// The session's side of the handshake's outcome, for making its pipeline.
struct PipelineSpec {
  bool hybi00 = false;  // the client speaks hybi-00
  Framing framing = Framing::kBinary;
  bool deflate = false;  // ws:// routes: permessage-deflate agreed end to end
};

// Knows how a route's pipelines are made; built once at config load, immutable.
class PipelineFactory {
 public:
  explicit PipelineFactory(const RouteConfig& rc);
  // The framing a bridged route uses with a client of this protocol and subprotocol.
  Framing framing(bool hybi00, std::string_view protocol) const;
  std::unique_ptr<Pipeline> make(const PipelineSpec& spec, PipelineEvents& events) const;

 private:
  uint64_t max_message_size_;
  MessageType type_;
  BackendAddr::Kind backend_;
};
