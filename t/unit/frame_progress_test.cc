// What frame_timeout sees of the client decoders: whether a frame is partly consumed, and
// whether one ended since the last look, for RFC 6455 (decoded and relayed) and hybi-00.
#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <string>

#include "frame.h"
#include "hybi00_frame.h"
#include "relay.h"
#include "test_buffer.h"
#include "test_frames.h"
#include "test_sink.h"

namespace {

using test_frames::frame;

class NullObserver : public RelayObserver {
 public:
  bool on_relay_control(uint8_t, const uint8_t*, size_t) override { return true; }
  void on_relay_close(uint16_t, std::string_view) override {}
  bool relay_blocked() const override { return false; }
};

// Feeds `wire` one byte at a time through `step` (which decodes what is in `in`), checking
// that the frame is under way after every byte but the last, and that it ended at the last.
template <typename Step, typename Mid, typename Take>
void byte_by_byte(const std::string& wire, Buf& in, Step step, Mid mid, Take take) {
  for (size_t i = 0; i < wire.size(); i++) {
    in.add(wire.substr(i, 1));
    step();
    bool last = i + 1 == wire.size();
    EXPECT_EQ(!last, mid() || in.size() > 0) << "after byte " << i;
    EXPECT_EQ(last, take()) << "after byte " << i;
  }
  EXPECT_FALSE(take()) << "the flag clears once taken";
}

TEST(FrameProgress, Rfc6455DataAndControlFrames) {
  Rfc6455Codec codec(1 << 20);
  RecordingSink sink;
  Buf in;
  auto step = [&] { EXPECT_EQ(0, codec.decode(in, sink).code); };
  auto mid = [&] { return codec.mid_frame(); };
  auto take = [&] { return codec.take_frame_ended(); };
  EXPECT_FALSE(codec.mid_frame());
  byte_by_byte(frame(kOpBinary, std::string(300, 'x'), true), in, step, mid, take);
  byte_by_byte(frame(kOpPing, "hi", true), in, step, mid, take);
  byte_by_byte(frame(kOpText, "", true), in, step, mid, take);
}

TEST(FrameProgress, Rfc6455TwoFramesInOneReadEndOne) {
  Rfc6455Codec codec(1 << 20);
  RecordingSink sink;
  Buf in;
  std::string second = frame(kOpBinary, "abcdef", true);
  in.add(frame(kOpBinary, "1234", true) + second.substr(0, 3));
  EXPECT_EQ(0, codec.decode(in, sink).code);
  EXPECT_TRUE(codec.take_frame_ended()) << "the first ended in this read";
  EXPECT_TRUE(codec.mid_frame() || in.size() > 0) << "and the second is under way";
}

TEST(FrameProgress, RelayStreamsPayloadButStaysUnderWay) {
  FrameRelay relay(FrameRules{true, false, 1 << 20});
  NullObserver obs;
  Buf in, out;
  auto step = [&] { EXPECT_EQ(0, relay.relay(in, out, obs).code); };
  auto mid = [&] { return relay.mid_frame(); };
  auto take = [&] { return relay.take_frame_ended(); };
  byte_by_byte(frame(kOpBinary, std::string(200, 'y'), true), in, step, mid, take);
  byte_by_byte(frame(kOpPong, "p", true), in, step, mid, take);
  byte_by_byte(frame(kOpBinary, "", true, false), in, step, mid, take);
}

TEST(FrameProgress, Hybi00TextAndLengthFrames) {
  Hybi00Codec codec(1 << 20);
  RecordingSink sink;
  Buf in;
  auto step = [&] { EXPECT_EQ(0, codec.decode(in, sink).code); };
  auto mid = [&] { return codec.mid_frame(); };
  auto take = [&] { return codec.take_frame_ended(); };
  byte_by_byte(std::string("\x00hello\xff", 7), in, step, mid, take);
  byte_by_byte(std::string("\x80\x03"
                           "abc",
                           5),
               in, step, mid, take);
}

}  // namespace
