// hybi-00 framing: the Hybi00Codec decoder fed its input cut at every place, and in many chains.
#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "hybi00_frame.h"
#include "hybi00_wire.h"
#include "test_buffer.h"
#include "test_sink.h"

namespace {

TEST(Hybi00Decode, MixedStreamOneByteAtATime) {
  std::string wire = mixed_stream();
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  ASSERT_EQ(feed(c, sink, in, wire, 1).code, 0);
  expect_mixed(sink);
  EXPECT_EQ(in.size(), 0u);
}

TEST(Hybi00Decode, MixedStreamEveryTwoWaySplit) {
  std::string wire = mixed_stream();
  for (size_t cut = 0; cut <= wire.size(); cut++) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    Hybi00Codec c(1 << 20);
    RecordingSink sink;
    Buf in;
    ASSERT_EQ(feed_cuts(c, sink, in, wire, {cut}).code, 0);
    expect_mixed(sink);
    EXPECT_EQ(in.size(), 0u);
  }
}

TEST(Hybi00Decode, ShortStreamEveryThreeWaySplit) {
  std::string wire = text_frame("a\xC3\xA9") + bytes({0x05, 'x', 0xFF}) + length_frame(0x80, "zz") +
                     text_frame("b") + kClose + "tail";
  for (size_t i = 0; i <= wire.size(); i++) {
    for (size_t j = i; j <= wire.size(); j++) {
      SCOPED_TRACE(std::to_string(i) + "," + std::to_string(j));
      Hybi00Codec c(1 << 20);
      RecordingSink sink;
      Buf in;
      ASSERT_EQ(feed_cuts(c, sink, in, wire, {i, j}).code, 0);
      EXPECT_EQ(sink.texts(), (std::vector<std::string>{"a\xC3\xA9", "b"}));
      ASSERT_EQ(sink.controls().size(), 1u);
      EXPECT_EQ(sink.controls()[0].code, close_code::kNoStatus);
    }
  }
}

TEST(Hybi00Decode, InputSpreadOverManyBufferChains) {
  std::string payload;
  for (int i = 0; i < 40; i++) payload += "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  std::string wire = text_frame(payload) + text_frame("next");
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  in.add_chain_per_byte(wire);
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_EQ(sink.texts(), (std::vector<std::string>{payload, "next"}));
  EXPECT_EQ(in.size(), 0u);
}

// ---- Errors at every split ----

TEST(Hybi00Decode, ErrorsAreTheSameAtEverySplit) {
  struct Case {
    std::string wire;
    uint64_t max;
    uint16_t code;
  } cases[] = {
      // Invalid UTF-8 before the frame grows too big: 1007 however much has arrived.
      {text_frame("ok") + std::string(1, '\0') + "xyz\xC3\x28" + std::string(20, 'x') + "\xFF", 10,
       close_code::kInvalidPayload},
      // Too big before the invalid byte: 1009.
      {text_frame("ok") + std::string(1, '\0') + std::string(11, 'x') + "\xC0\xFF", 10,
       close_code::kTooBig},
      {text_frame("ok") + text_frame("ab\xE2\x82"), 10, close_code::kInvalidPayload},
      {text_frame("ok") + length_frame(0x81, std::string(200, 'x')), 100, close_code::kTooBig},
      {text_frame("ok") + bytes({0x01}) + std::string(11, 'x') + "\xFF", 10, close_code::kTooBig},
  };
  for (const Case& k : cases) {
    for (size_t cut = 0; cut <= k.wire.size(); cut++) {
      SCOPED_TRACE(testing::PrintToString(k.wire) + " cut at " + std::to_string(cut));
      Hybi00Codec c(k.max);
      RecordingSink sink;
      Buf in;
      DecodeError err = feed_cuts(c, sink, in, k.wire, {cut});
      EXPECT_EQ(err.code, k.code) << err.why;
      EXPECT_EQ(sink.texts(true).at(0), "ok");
      EXPECT_TRUE(sink.controls().empty());
    }
  }
}

// ---- Backpressure at every split ----

TEST(Hybi00Decode, MixedStreamEverySplitBlockedThenNot) {
  std::string wire = mixed_stream();
  for (size_t cut = 0; cut <= wire.size(); cut++) {
    for (bool block_first : {true, false}) {
      SCOPED_TRACE("cut at " + std::to_string(cut) + (block_first ? ", first" : ", second") +
                   " piece blocked");
      Hybi00Codec c(1 << 20);
      RecordingSink sink;
      Buf in;
      sink.block = block_first;
      in.add(wire.substr(0, cut));
      ASSERT_EQ(c.decode(in, sink).code, 0);
      sink.block = !block_first;
      in.add(wire.substr(cut));
      ASSERT_EQ(c.decode(in, sink).code, 0);
      sink.block = false;
      ASSERT_EQ(c.decode(in, sink).code, 0);
      expect_mixed(sink);
      EXPECT_EQ(in.size(), 0u);
    }
  }
}

// ---- Drains ----

// An evbuffer callback that records the size of every removal from the buffer.
void record_removals(evbuffer*, const evbuffer_cb_info* info, void* arg) {
  if (info->n_deleted) static_cast<std::vector<size_t>*>(arg)->push_back(info->n_deleted);
}

TEST(Hybi00Decode, OneDrainPerFrameBoundary) {
  // The sink's removals are the payloads; between them, one drain takes the end marker, any
  // discarded frames and the next start marker together.
  std::string wire = text_frame("ab") + length_frame(0x80, "xyz") + bytes({0x01, 'j', 0xFF}) +
                     text_frame("cd") + text_frame("ef") + kClose + "junk";
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  in.add(wire);
  std::vector<size_t> removals;
  evbuffer_add_cb(in, record_removals, &removals);
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_EQ(sink.texts(), (std::vector<std::string>{"ab", "cd", "ef"}));
  EXPECT_EQ(removals, (std::vector<size_t>{1, 2, 1 + 5 + 3 + 1, 2, 2, 2, 1 + 2 + 4}));
  EXPECT_EQ(in.size(), 0u);
}

TEST(Hybi00Decode, EachCallDrainsOncePerPieceAndOnceAtTheEnd) {
  std::string wire = mixed_stream();
  for (size_t chunk : {1, 2, 3, 7, 13}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    Hybi00Codec c(1 << 20);
    RecordingSink sink;
    Buf in;
    std::vector<size_t> removals;
    evbuffer_add_cb(in, record_removals, &removals);
    for (size_t i = 0; i < wire.size(); i += chunk) {
      size_t removed = removals.size(), events = sink.events.size();
      in.add(wire.substr(i, chunk));
      ASSERT_EQ(c.decode(in, sink).code, 0);
      // The sink removed each non-empty piece; the decoder drained before each piece and once
      // at the end, at most.
      size_t pieces = 0, nonempty = 0;
      for (size_t e = events; e < sink.events.size(); e++) {
        pieces += sink.events[e].kind == Event::kData;
        nonempty += !sink.events[e].data.empty();
      }
      EXPECT_LE(removals.size() - removed - nonempty, 1 + pieces) << "at " << i;
    }
    expect_mixed(sink);
  }
}

TEST(Hybi00Decode, MixedStreamInAChainPerByte) {
  std::string wire = mixed_stream();
  Hybi00Codec c(1 << 20);
  RecordingSink sink;
  Buf in;
  in.add_chain_per_byte(wire);
  ASSERT_EQ(c.decode(in, sink).code, 0);
  expect_mixed(sink);
  EXPECT_EQ(in.size(), 0u);
}

TEST(Hybi00Decode, PerConnectionStateIsSmall) {
  // A vtable pointer, the limit, the frame's length, the UTF-8 state and a few flags.
  EXPECT_LE(sizeof(Hybi00Codec), 32u);
}

}  // namespace
