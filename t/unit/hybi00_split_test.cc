// hybi-00 framing: the Hybi00Codec decoder fed its input cut at every place, and in many chains.
#include <event2/buffer.h>
#include <gtest/gtest.h>

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
  for (char ch : wire) {
    Buf one;
    evbuffer_add(one, &ch, 1);
    evbuffer_add_buffer(in, one);
  }
  ASSERT_EQ(c.decode(in, sink).code, 0);
  EXPECT_EQ(sink.texts(), (std::vector<std::string>{payload, "next"}));
  EXPECT_EQ(in.size(), 0u);
}

}  // namespace
