#include "chain.h"

#include <event2/buffer.h>

#include "buffer.h"
#include "frame.h"
#include "hybi00_frame.h"

bool Filter::upstream(evbuffer* in, evbuffer* out) {
  move_bytes(in, out, evbuffer_get_length(in));
  return true;
}

bool Filter::downstream(evbuffer* in, evbuffer* out, bool /*eof*/) {
  move_bytes(in, out, evbuffer_get_length(in));
  return true;
}

bool Utf8TextFilter::downstream(evbuffer* in, evbuffer* out, bool eof) {
  size_t len = evbuffer_get_length(in);
  if (len > checked_) {
    evbuffer_iovec v[16];
    evbuffer_ptr at;
    evbuffer_ptr_set(in, &at, checked_, EVBUFFER_PTR_SET);
    while (checked_ < len) {
      int nv = evbuffer_peek(in, static_cast<ev_ssize_t>(len - checked_), &at, v, 16);
      for (int i = 0; i < nv && i < 16; i++) {
        if (!utf8_.feed(static_cast<const uint8_t*>(v[i].iov_base), v[i].iov_len)) {
          why_ = "backend sent invalid UTF-8 on a text route";
          return false;
        }
        checked_ += v[i].iov_len;
      }
      evbuffer_ptr_set(in, &at, checked_, EVBUFFER_PTR_SET);
    }
    checked_ = len;
  }
  if (eof && !utf8_.complete()) {
    why_ = "backend closed inside a UTF-8 character on a text route";
    return false;
  }
  size_t ready = len - utf8_.pending();
  move_bytes(in, out, ready);
  checked_ = len - ready;
  return true;
}

bool Base64Filter::upstream(evbuffer* in, evbuffer* out) {
  if (decoder_.feed(in, evbuffer_get_length(in), out)) return true;
  why_ = "client sent invalid base64";
  return false;
}

bool Base64Filter::downstream(evbuffer* in, evbuffer* out, bool /*eof*/) {
  base64_encode(in, evbuffer_get_length(in), out);
  return true;
}

Chain::Chain(std::vector<std::unique_ptr<Filter>> filters) : filters_(std::move(filters)) {
  for (size_t i = 0; i < filters_.size(); i++) {
    up_.push_back(evbuffer_new());
    down_.push_back(evbuffer_new());
    if (filters_[i]->changes_upstream()) up_moves_only_ = false;
  }
}

Chain::~Chain() {
  for (evbuffer* b : up_) evbuffer_free(b);
  for (evbuffer* b : down_) evbuffer_free(b);
}

bool Chain::upstream(evbuffer* in, size_t n, evbuffer* out, const char** why) {
  if (up_moves_only_) {
    move_bytes(in, out, n);
    return true;
  }
  move_bytes(in, up_[0], n);
  for (size_t i = 0; i < filters_.size(); i++)
    if (!filters_[i]->upstream(up_[i], i + 1 < filters_.size() ? up_[i + 1] : out)) {
      *why = filters_[i]->why();
      return false;
    }
  return true;
}

evbuffer* Chain::downstream(evbuffer* in, bool eof, const char** why) {
  evbuffer* cur = in;
  for (size_t i = filters_.size(); i-- > 0;) {
    if (!filters_[i]->downstream(cur, down_[i], eof)) {
      *why = filters_[i]->why();
      return nullptr;
    }
    cur = down_[i];
  }
  return cur;
}

ChainFactory::ChainFactory(const RouteConfig& rc)
    : max_message_size_(rc.limits.max_message_size),
      type_(rc.type),
      echo_(rc.backend.kind == BackendAddr::Kind::kEcho) {}

std::unique_ptr<Codec> ChainFactory::make_codec(bool hybi00) const {
  if (hybi00) return std::make_unique<Hybi00Codec>(max_message_size_);
  return std::make_unique<Rfc6455Codec>(max_message_size_);
}

Framing ChainFactory::framing(bool hybi00, std::string_view protocol) const {
  if (echo_) return Framing::kBinary;  // echo keeps each message's own type
  if (protocol == "base64") return Framing::kBase64;
  // hybi-00 carries only text, so binary data travels as base64.
  if (hybi00) return type_ == MessageType::kBinary ? Framing::kBase64 : Framing::kText;
  if (protocol == "binary") return Framing::kBinary;
  return type_ == MessageType::kText ? Framing::kText : Framing::kBinary;
}

std::unique_ptr<Chain> ChainFactory::make_chain(Framing framing) const {
  std::vector<std::unique_ptr<Filter>> filters;
  if (!echo_ && framing == Framing::kText) filters.push_back(std::make_unique<Utf8TextFilter>());
  if (!echo_ && framing == Framing::kBase64) filters.push_back(std::make_unique<Base64Filter>());
  return std::make_unique<Chain>(std::move(filters));
}
