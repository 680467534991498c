// find_request_head resumed across reads: the same answer at every split as in one piece, and
// bytes already searched are not searched again.
#include <event2/buffer.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "handshake.h"
#include "test_buffer.h"

namespace {

// The answer for `bytes` in one piece, found without evbuffer: the oracle for the splits.
long reference(const std::string& bytes, size_t cap) {
  size_t p = bytes.find("\r\n\r\n");
  if (p != std::string::npos) return p + 4 <= cap ? static_cast<long>(p + 4) : -1;
  return bytes.size() >= cap ? -1 : 0;
}

// Feeds `wire` cut at `cuts` (ascending) to one resumed search, checking the answer after each
// piece against the oracle for the bytes so far. With `chains`, each piece is a chain of its own
// rather than copied into the last one. Returns the last answer.
long feed_resumed(const std::string& wire, std::vector<size_t> cuts, size_t cap,
                  bool chains = false) {
  Buf in;
  size_t scanned = 0, at = 0;
  long got = 0;
  cuts.push_back(wire.size());
  for (size_t end : cuts) {
    Buf piece;
    piece.add(wire.substr(at, end - at));
    if (chains)
      evbuffer_add_buffer(in, piece);
    else
      in.add(piece.str());
    at = end;
    got = find_request_head(in, scanned, cap);
    EXPECT_EQ(got, reference(wire.substr(0, end), cap)) << "after " << end << " bytes";
    EXPECT_LE(scanned, std::min(end, cap));
  }
  return got;
}

const char kRequest[] = "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n";

// Wires whose answers differ: complete, followed by pipelined bytes, with near misses of the
// terminator on both sides of any cut, and without a terminator.
std::vector<std::string> wires() {
  return {kRequest,
          std::string(kRequest) + "\x81\x85 more \r\n\r\n",
          "GET / HTTP/1.1\r\nA: \r\r\n\n\r\n\rB: \n\n\r\r\n\r\r\n\r\n\r\nafter",
          "GET / HTTP/1.1\r\nA: b\r\n\r",
          "\r\n\r\n",
          ""};
}

TEST(FindRequestHeadResumed, EveryTwoWaySplit) {
  for (const std::string& wire : wires()) {
    for (size_t cap : {kMaxRequestHead, size_t{20}, size_t{4}}) {
      for (size_t cut = 0; cut <= wire.size(); cut++) {
        SCOPED_TRACE(testing::PrintToString(wire) + " cap " + std::to_string(cap) + " cut " +
                     std::to_string(cut));
        EXPECT_EQ(feed_resumed(wire, {cut}, cap), reference(wire, cap));
        EXPECT_EQ(feed_resumed(wire, {cut}, cap, true), reference(wire, cap));
      }
    }
  }
}

TEST(FindRequestHeadResumed, EveryThreeWaySplit) {
  std::string wire = wires()[2];
  for (size_t i = 0; i <= wire.size(); i++)
    for (size_t j = i; j <= wire.size(); j++) {
      SCOPED_TRACE(std::to_string(i) + "," + std::to_string(j));
      EXPECT_EQ(feed_resumed(wire, {i, j}, kMaxRequestHead), reference(wire, kMaxRequestHead));
      EXPECT_EQ(feed_resumed(wire, {i, j}, 30, true), reference(wire, 30));
    }
}

TEST(FindRequestHeadResumed, ByteByByteUpToTheCap) {
  std::string start = "GET / HTTP/1.1\r\nX: ";
  std::string fill(kMaxRequestHead - start.size() - 4, 'v');
  std::vector<size_t> every;
  for (size_t i = 1; i < kMaxRequestHead + 8; i++) every.push_back(i);
  // The terminator ends at the cap, one byte past it, or never comes.
  for (const std::string& wire :
       {start + fill + "\r\n\r\n", start + fill + "v\r\n\r\n", start + fill + fill}) {
    std::vector<size_t> cuts;
    for (size_t c : every)
      if (c < wire.size()) cuts.push_back(c);
    EXPECT_EQ(feed_resumed(wire, cuts, kMaxRequestHead), reference(wire, kMaxRequestHead));
    EXPECT_EQ(feed_resumed(wire, cuts, kMaxRequestHead, true), reference(wire, kMaxRequestHead));
  }
}

TEST(FindRequestHeadResumed, SearchedBytesAreNotSearchedAgain) {
  Buf in;
  std::string part = "GET / HTTP/1.1\r\nHost: h\r\nX: y";
  in.add(part);
  size_t scanned = 0;
  ASSERT_EQ(find_request_head(in, scanned), 0);
  EXPECT_EQ(scanned, part.size());
  // A terminator written behind the search's back, where it already looked, stays unseen:
  // the next call reads only the last 3 bytes again and the new ones.
  uint8_t* p = evbuffer_pullup(in, -1);
  memcpy(p + part.size() - 7, "\r\n\r\n", 4);
  in.add("z");
  EXPECT_EQ(find_request_head(in, scanned), 0);
  EXPECT_EQ(scanned, part.size() + 1);
  size_t fresh = 0;
  EXPECT_EQ(find_request_head(in, fresh), static_cast<long>(part.size() - 3));
  // One that ends in the new bytes is found, though it starts in the old ones.
  in.add("\r\n\r");
  EXPECT_EQ(find_request_head(in, scanned), 0);
  in.add("\n");
  EXPECT_EQ(find_request_head(in, scanned), static_cast<long>(part.size() + 5));
}

TEST(FindRequestHeadResumed, FoundAgainOnTheNextCall) {
  // hybi-00's key3 follows the head: the session asks again when it arrives.
  Buf in;
  size_t scanned = 0;
  in.add(kRequest);
  const long len = static_cast<long>(strlen(kRequest));
  ASSERT_EQ(find_request_head(in, scanned), len);
  in.add("12345678\r\n\r\n");
  EXPECT_EQ(find_request_head(in, scanned), len);
  EXPECT_EQ(find_request_head(in, scanned), len);
}

TEST(FindRequestHeadResumed, StateBeyondTheBufferStartsOver) {
  // A caller that drained the buffer but kept its state: searched again from byte 0.
  Buf in;
  in.add(kRequest);
  size_t scanned = 1000;
  EXPECT_EQ(find_request_head(in, scanned), static_cast<long>(strlen(kRequest)));
}

TEST(FindRequestHeadResumed, OneShotFormAgrees) {
  for (const std::string& wire : wires()) {
    Buf in;
    in.add(wire);
    EXPECT_EQ(find_request_head(in), reference(wire, kMaxRequestHead));
  }
}

}  // namespace
