// The stages between codecs: UTF-8 hold-back for text bridges, base64 for text-only clients.
#pragma once

#include "base64.h"
#include "stage.h"
#include "utf8.h"

// Backend bytes become text messages: a character split across reads is held back until it
// is whole, and bad UTF-8 fails with 1011 (the backend's fault, not the client's).
class Utf8HoldBack final : public Stage {
 public:
  Flow down(evbuffer* data, size_t n, const MessageMeta& m, StageOut& next) override;
  Flow down_end(StageOut& next) override;

 private:
  Utf8Validator utf8_;
  uint8_t held_[3];  // the start of a character, from the previous read
  uint8_t held_n_ = 0;
};

// base64 in text messages. kAll (hybi-00 binary bridges, the base64 subprotocol): client text
// is decoded to bytes as one stream, and each backend message becomes one whole base64
// string. kBinaryOnly (a hybi-00 client of a ws:// backend): only binary messages from the
// backend are encoded, text passes as it is.
class Base64Stage final : public Stage {
 public:
  enum class Mode { kAll, kBinaryOnly };
  explicit Base64Stage(Mode mode);
  ~Base64Stage() override;
  Base64Stage(const Base64Stage&) = delete;
  Base64Stage& operator=(const Base64Stage&) = delete;
  Flow up(evbuffer* data, size_t n, const MessageMeta& m, StageOut& next) override;
  Flow down(evbuffer* data, size_t n, const MessageMeta& m, StageOut& next) override;

 private:
  Mode mode_;
  Base64Decoder decoder_;
  Base64Encoder encoder_;
  evbuffer* scratch_;
};

// A text-only client on a type = text route: a binary message from the backend cannot be
// carried and fails with 1003.
class TextOnly final : public Stage {
 public:
  Flow down(evbuffer* data, size_t n, const MessageMeta& m, StageOut& next) override;
};
