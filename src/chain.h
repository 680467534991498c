// The filter chain between the client's codec and the backend, built per route.
//
// Client bytes flow codec -> filters in order -> backend; backend bytes flow back through the
// filters in reverse order -> codec (Envoy's FIFO read / LIFO write rule). A route's
// ChainFactory is built once at config load and makes one Chain per connection.
#pragma once

#include <memory>
#include <vector>

#include "base64.h"
#include "codec.h"
#include "config.h"
#include "utf8.h"

struct evbuffer;

class Filter {
 public:
  virtual ~Filter() = default;
  // Client -> backend: moves what it can of `in` to `out`. False on bad input (see why()).
  virtual bool upstream(evbuffer* in, evbuffer* out);
  // Backend -> client. With `eof`, nothing more will come, so nothing may be held back.
  virtual bool downstream(evbuffer* in, evbuffer* out, bool eof);
  // False for a filter whose upstream() only moves bytes, so the chain can skip it.
  virtual bool changes_upstream() const { return true; }
  const char* why() const { return why_; }

 protected:
  const char* why_ = "";
};

// Backend bytes become text frames: hold back a character split across reads, reject bad UTF-8.
class Utf8TextFilter : public Filter {
 public:
  bool downstream(evbuffer* in, evbuffer* out, bool eof) override;
  bool changes_upstream() const override { return false; }

 private:
  Utf8Validator utf8_;
  size_t checked_ = 0;  // leading bytes of `in` already validated
};

// base64 in text frames (hybi-00 binary routes, the base64 subprotocol): client text is decoded
// to bytes for the backend, and each read from the backend becomes one whole base64 string.
class Base64Filter : public Filter {
 public:
  bool upstream(evbuffer* in, evbuffer* out) override;
  bool downstream(evbuffer* in, evbuffer* out, bool eof) override;

 private:
  Base64Decoder decoder_;
};

// What the client's data messages carry on a bridged route, settled by the handshake.
enum class Framing {
  kText,    // UTF-8 text frames
  kBinary,  // binary frames
  kBase64,  // text frames holding base64
};

class Chain {
 public:
  explicit Chain(std::vector<std::unique_ptr<Filter>> filters);
  ~Chain();
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  // Runs n bytes of client payload from `in` through the filters into `out`.
  bool upstream(evbuffer* in, size_t n, evbuffer* out, const char** why);
  // Runs backend bytes through the filters in reverse. Returns the buffer holding the result
  // (`in` itself when there are no filters), or null on bad input.
  evbuffer* downstream(evbuffer* in, bool eof, const char** why);

 private:
  std::vector<std::unique_ptr<Filter>> filters_;
  bool up_moves_only_ = true;    // no filter changes client bytes: they go straight out
  std::vector<evbuffer*> up_;    // input of filter i, client side
  std::vector<evbuffer*> down_;  // output of filter i, client side
};

// Knows which codec and filters a route needs; immutable after config load.
class ChainFactory {
 public:
  explicit ChainFactory(const RouteConfig& rc);
  // The client's codec: RFC 6455, or hybi-00 for a client that asked for it.
  std::unique_ptr<Codec> make_codec(bool hybi00) const;
  // The framing a bridged route uses with a client of this protocol and subprotocol.
  Framing framing(bool hybi00, std::string_view protocol) const;
  std::unique_ptr<Chain> make_chain(Framing framing) const;

 private:
  uint64_t max_message_size_;
  MessageType type_;
  bool echo_;
};
