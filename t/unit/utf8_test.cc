// Utf8Validator: classic edge cases, fed whole and byte by byte, and a differential test
// against an independent reference decoder.
#include "utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

const uint8_t* u8(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

// What the validator says about a whole input.
struct Outcome {
  bool ok = true;             // no feed() returned false
  size_t fail_at = SIZE_MAX;  // index of the byte whose feed returned false (byte by byte)
  bool complete = false;
  size_t pending = 0;
};

Outcome feed_whole(const std::string& s) {
  Utf8Validator v;
  Outcome o;
  o.ok = v.feed(u8(s), s.size());
  if (o.ok) {
    o.complete = v.complete();
    o.pending = v.pending();
  }
  return o;
}

Outcome feed_bytewise(const std::string& s) {
  Utf8Validator v;
  Outcome o;
  for (size_t i = 0; i < s.size(); i++) {
    if (!v.feed(u8(s) + i, 1)) {
      o.ok = false;
      o.fail_at = i;
      return o;
    }
  }
  o.complete = v.complete();
  o.pending = v.pending();
  return o;
}

// Feeds in chunks of the given sizes (cycled); returns like feed_whole.
Outcome feed_chunks(const std::string& s, const std::vector<size_t>& sizes) {
  Utf8Validator v;
  Outcome o;
  size_t i = 0, k = 0;
  while (i < s.size()) {
    size_t n = std::min(sizes[k++ % sizes.size()], s.size() - i);
    if (!v.feed(u8(s) + i, n)) {
      o.ok = false;
      return o;
    }
    i += n;
  }
  o.complete = v.complete();
  o.pending = v.pending();
  return o;
}

void expect_valid(const std::string& s) {
  SCOPED_TRACE(testing::PrintToString(s));
  Outcome w = feed_whole(s);
  EXPECT_TRUE(w.ok);
  EXPECT_TRUE(w.complete);
  EXPECT_EQ(w.pending, 0u);
  Outcome b = feed_bytewise(s);
  EXPECT_TRUE(b.ok);
  EXPECT_TRUE(b.complete);
  EXPECT_EQ(b.pending, 0u);
  EXPECT_TRUE(utf8_valid(s.data(), s.size()));
}

// Invalid, and the byte-by-byte feed fails exactly at byte `at`.
void expect_invalid_at(const std::string& s, size_t at) {
  SCOPED_TRACE(testing::PrintToString(s));
  EXPECT_FALSE(feed_whole(s).ok);
  Outcome b = feed_bytewise(s);
  EXPECT_FALSE(b.ok);
  EXPECT_EQ(b.fail_at, at);
  EXPECT_FALSE(utf8_valid(s.data(), s.size()));
}

// No byte is rejected, but the input stops inside a character of which `pending` bytes came.
void expect_truncated(const std::string& s, size_t pending) {
  SCOPED_TRACE(testing::PrintToString(s));
  Outcome w = feed_whole(s);
  EXPECT_TRUE(w.ok);
  EXPECT_FALSE(w.complete);
  EXPECT_EQ(w.pending, pending);
  Outcome b = feed_bytewise(s);
  EXPECT_TRUE(b.ok);
  EXPECT_FALSE(b.complete);
  EXPECT_EQ(b.pending, pending);
  EXPECT_FALSE(utf8_valid(s.data(), s.size()));
}

TEST(Utf8, EmptyIsValid) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed(nullptr, 0));
  EXPECT_TRUE(v.complete());
  EXPECT_EQ(v.pending(), 0u);
  EXPECT_TRUE(utf8_valid("", 0));
}

TEST(Utf8, ValidSequences) {
  expect_valid("hello, world");
  expect_valid(std::string("\0\x01\x7f", 3));
  expect_valid(bytes({0xC2, 0x80}));              // U+0080
  expect_valid(bytes({0xDF, 0xBF}));              // U+07FF
  expect_valid(bytes({0xE0, 0xA0, 0x80}));        // U+0800
  expect_valid(bytes({0xED, 0x9F, 0xBF}));        // U+D7FF
  expect_valid(bytes({0xEE, 0x80, 0x80}));        // U+E000
  expect_valid(bytes({0xEF, 0xBF, 0xBF}));        // U+FFFF
  expect_valid(bytes({0xF0, 0x90, 0x80, 0x80}));  // U+10000
  expect_valid(bytes({0xF4, 0x8F, 0xBF, 0xBF}));  // U+10FFFF
  // "κόσμε", the classic test string.
  expect_valid(bytes({0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5}));
  expect_valid("Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!");
  expect_valid("\xF0\x9F\x98\x80 emoji after and before \xF0\x9F\x98\x80");
}

TEST(Utf8, LongAsciiRunsAroundMultibyte) {
  // Exercise any word-at-a-time fast path: runs longer than 8, multibyte at every offset.
  for (size_t pre = 0; pre < 20; pre++) {
    for (size_t post = 0; post < 20; post++) {
      std::string s = std::string(pre, 'a') + "\xE2\x82\xAC" + std::string(post, 'b');
      expect_valid(s);
      std::string bad = std::string(pre, 'a') + "\xE2\x28\xA1" + std::string(post, 'b');
      expect_invalid_at(bad, pre + 1);
      std::string cut = std::string(pre, 'a') + "\xF0\x9F\x98";
      expect_truncated(cut, 3);
    }
  }
}

TEST(Utf8, Overlongs) {
  expect_invalid_at(bytes({0xC0, 0x80}), 0);
  expect_invalid_at(bytes({0xC1, 0xBF}), 0);
  expect_invalid_at(bytes({0xE0, 0x80, 0x80}), 1);
  expect_invalid_at(bytes({0xE0, 0x9F, 0xBF}), 1);
  expect_invalid_at(bytes({0xF0, 0x80, 0x80, 0x80}), 1);
  expect_invalid_at(bytes({0xF0, 0x8F, 0xBF, 0xBF}), 1);
  expect_invalid_at(bytes({'a', 0xC0, 0xAF}), 1);
}

TEST(Utf8, Surrogates) {
  expect_invalid_at(bytes({0xED, 0xA0, 0x80}), 1);  // U+D800
  expect_invalid_at(bytes({0xED, 0xAD, 0xBF}), 1);  // U+DB7F
  expect_invalid_at(bytes({0xED, 0xBF, 0xBF}), 1);  // U+DFFF
  // A surrogate pair encoded as two 3-byte sequences (CESU-8) is still invalid.
  expect_invalid_at(bytes({0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80}), 1);
}

TEST(Utf8, AboveMaxCodePoint) {
  expect_invalid_at(bytes({0xF4, 0x90, 0x80, 0x80}), 1);  // U+110000
  expect_invalid_at(bytes({0xF4, 0xBF, 0xBF, 0xBF}), 1);
  for (int lead = 0xF5; lead <= 0xFF; lead++) expect_invalid_at(bytes({lead, 0x80, 0x80, 0x80}), 0);
  expect_invalid_at(bytes({0xF8, 0x88, 0x80, 0x80, 0x80}), 0);        // 5-byte form
  expect_invalid_at(bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}), 0);  // 6-byte form
}

TEST(Utf8, LoneContinuationBytes) {
  for (int c = 0x80; c <= 0xBF; c++) {
    expect_invalid_at(bytes({c}), 0);
    expect_invalid_at(bytes({'x', 'y', c}), 2);
  }
  // One too many continuation bytes after a complete character.
  expect_invalid_at(bytes({0xC2, 0x80, 0x80}), 2);
  expect_invalid_at(bytes({0xE2, 0x82, 0xAC, 0xAC}), 3);
}

TEST(Utf8, LeadFollowedByNonContinuation) {
  expect_invalid_at(bytes({0xC2, 'a'}), 1);
  expect_invalid_at(bytes({0xE2, 0x82, 'a'}), 2);
  expect_invalid_at(bytes({0xF0, 0x9F, 0x98, 0xC2}), 3);
  expect_invalid_at(bytes({0xC2, 0xC2, 0x80}), 1);
}

TEST(Utf8, TruncatedSequences) {
  expect_truncated(bytes({0xC2}), 1);
  expect_truncated(bytes({0xE2}), 1);
  expect_truncated(bytes({0xE2, 0x82}), 2);
  expect_truncated(bytes({0xF0}), 1);
  expect_truncated(bytes({0xF0, 0x9F}), 2);
  expect_truncated(bytes({0xF0, 0x9F, 0x98}), 3);
  expect_truncated(bytes({'o', 'k', 0xF4, 0x8F, 0xBF}), 3);
}

TEST(Utf8, CompletesAcrossFeeds) {
  Utf8Validator v;
  std::string s = bytes({0xF0, 0x9F, 0x98, 0x80});
  ASSERT_TRUE(v.feed(u8(s), 1));
  EXPECT_FALSE(v.complete());
  EXPECT_EQ(v.pending(), 1u);
  ASSERT_TRUE(v.feed(u8(s) + 1, 2));
  EXPECT_EQ(v.pending(), 3u);
  ASSERT_TRUE(v.feed(u8(s) + 3, 1));
  EXPECT_TRUE(v.complete());
  EXPECT_EQ(v.pending(), 0u);
  // The range restriction after E0/ED/F0/F4 also holds when the lead came in an earlier feed.
  Utf8Validator w;
  ASSERT_TRUE(w.feed(u8(bytes({0xED})), 1));
  EXPECT_FALSE(w.feed(u8(bytes({0xA0})), 1));
}

TEST(Utf8, ResetForgetsPartialCharacter) {
  Utf8Validator v;
  ASSERT_TRUE(v.feed(u8(bytes({0xE2, 0x82})), 2));
  v.reset();
  EXPECT_TRUE(v.complete());
  EXPECT_EQ(v.pending(), 0u);
  EXPECT_FALSE(v.feed(u8(bytes({0xAC})), 1));  // now a lone continuation
  v.reset();
  // After reset, the restricted range of a previous lead is gone too.
  ASSERT_TRUE(v.feed(u8(bytes({0xED})), 1));
  v.reset();
  ASSERT_TRUE(v.feed(u8(bytes({0xE2})), 1));
  EXPECT_TRUE(v.feed(u8(bytes({0xA0, 0x80})), 2));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8, FailsFastBeforeSequenceCompletes) {
  // "κόσμε" followed by the start of a surrogate: fails at ED A0, before the 80 arrives.
  std::string s = bytes({0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80});
  Outcome b = feed_bytewise(s);
  EXPECT_FALSE(b.ok);
  EXPECT_EQ(b.fail_at, 10u);
  Utf8Validator v;
  EXPECT_FALSE(v.feed(u8(s), 11));  // the prefix up to A0 is enough
  Utf8Validator w;
  EXPECT_TRUE(w.feed(u8(s), 10));  // up to ED is still fine
  EXPECT_EQ(w.pending(), 1u);
  // The same for the other restricted leads.
  EXPECT_FALSE(Utf8Validator().feed(u8(bytes({0xF4, 0x90})), 2));
  EXPECT_FALSE(Utf8Validator().feed(u8(bytes({0xE0, 0x9F})), 2));
  EXPECT_FALSE(Utf8Validator().feed(u8(bytes({0xF0, 0x8F})), 2));
}

// ---- Differential test against a reference decoder written from the definition. ----

// Decodes exactly one complete sequence, checking it by its code point. True if valid.
bool ref_decode_one(const std::vector<uint8_t>& seq) {
  uint8_t b0 = seq[0];
  size_t len;
  uint32_t cp;
  if (b0 < 0x80) return seq.size() == 1;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return false;
  }
  if (seq.size() != len) return false;
  for (size_t i = 1; i < len; i++) {
    if ((seq[i] & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (seq[i] & 0x3F);
  }
  static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len]) return false;
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;
  return cp <= 0x10FFFF;
}

size_t ref_length(uint8_t b0) {
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0) == 0xC0) return 2;
  if ((b0 & 0xF0) == 0xE0) return 3;
  if ((b0 & 0xF8) == 0xF0) return 4;
  return 0;
}

// True if some valid character starts with `prefix`. Continuation byte values that cover every
// boundary of the allowed ranges stand in for all 64.
bool ref_viable(std::vector<uint8_t> prefix, size_t len) {
  if (prefix.size() == len) return ref_decode_one(prefix);
  static const uint8_t kReps[] = {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF};
  for (uint8_t c : kReps) {
    prefix.push_back(c);
    if (ref_viable(prefix, len)) return true;
    prefix.pop_back();
  }
  return false;
}

struct RefResult {
  bool ok = true;
  size_t fail_at = SIZE_MAX;
  size_t pending = 0;
};

// Strict, fail-fast reference: the first byte after which no valid continuation exists.
RefResult ref_check(const std::string& s) {
  RefResult r;
  size_t i = 0;
  while (i < s.size()) {
    uint8_t b0 = static_cast<uint8_t>(s[i]);
    size_t len = ref_length(b0);
    std::vector<uint8_t> seq{b0};
    if (len == 0 || !ref_viable(seq, len)) {
      r.ok = false;
      r.fail_at = i;
      return r;
    }
    size_t k = 1;
    for (; k < len && i + k < s.size(); k++) {
      seq.push_back(static_cast<uint8_t>(s[i + k]));
      if (!ref_viable(seq, len)) {
        r.ok = false;
        r.fail_at = i + k;
        return r;
      }
    }
    if (k < len) {
      r.pending = k;
      return r;
    }
    i += len;
  }
  return r;
}

TEST(Utf8, ReferenceAgreesWithKnownCases) {
  // Guard the reference itself with a few fixed points.
  EXPECT_TRUE(ref_check("abc").ok);
  EXPECT_EQ(ref_check(bytes({0xED, 0xA0, 0x80})).fail_at, 1u);
  EXPECT_EQ(ref_check(bytes({0xF4, 0x90})).fail_at, 1u);
  EXPECT_EQ(ref_check(bytes({0xC0})).fail_at, 0u);
  EXPECT_EQ(ref_check(bytes({0xF0, 0x9F, 0x98})).pending, 3u);
}

std::string encode_cp(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

// Random strings biased toward the interesting bytes, or valid text with a few mutations.
std::string random_input(std::mt19937& rng) {
  static const uint8_t kInteresting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                         0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                                         0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFE, 0xFF};
  std::uniform_int_distribution<int> mode(0, 2);
  std::uniform_int_distribution<size_t> length(0, 40);
  std::string s;
  int m = mode(rng);
  size_t n = length(rng);
  if (m == 0) {
    for (size_t i = 0; i < n; i++)
      s.push_back(static_cast<char>(kInteresting[rng() % sizeof kInteresting]));
  } else if (m == 1) {
    for (size_t i = 0; i < n; i++) s.push_back(static_cast<char>(rng() & 0xFF));
  } else {
    // Valid text (ASCII runs and code points of every length), then a few byte changes.
    while (s.size() < n) {
      switch (rng() % 5) {
        case 0:
          s += std::string(rng() % 12, 'x');
          break;
        case 1:
          s += encode_cp(0x80 + rng() % (0x800 - 0x80));
          break;
        case 2: {
          uint32_t cp = 0x800 + rng() % (0x10000 - 0x800);
          if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;
          s += encode_cp(cp);
          break;
        }
        case 3:
          s += encode_cp(0x10000 + rng() % (0x110000 - 0x10000));
          break;
        default:
          s += encode_cp(0x10FFFF - rng() % 3);
      }
    }
    int mutations = static_cast<int>(rng() % 3);
    for (int k = 0; k < mutations && !s.empty(); k++)
      s[rng() % s.size()] = static_cast<char>(kInteresting[rng() % sizeof kInteresting]);
    if (!s.empty() && rng() % 3 == 0) s.resize(rng() % s.size());
  }
  return s;
}

TEST(Utf8, DifferentialAgainstReference) {
  std::mt19937 rng(20240607);
  int valid = 0, invalid = 0, truncated = 0;
  for (int iter = 0; iter < 30000; iter++) {
    std::string s = random_input(rng);
    RefResult ref = ref_check(s);
    SCOPED_TRACE(testing::PrintToString(s));
    Outcome b = feed_bytewise(s);
    ASSERT_EQ(b.ok, ref.ok);
    if (!ref.ok) {
      invalid++;
      ASSERT_EQ(b.fail_at, ref.fail_at);
      ASSERT_FALSE(feed_whole(s).ok);
      ASSERT_FALSE(feed_chunks(s, {3, 1, 5}).ok);
      ASSERT_FALSE(utf8_valid(s.data(), s.size()));
      continue;
    }
    ref.pending ? truncated++ : valid++;
    ASSERT_EQ(b.pending, ref.pending);
    ASSERT_EQ(b.complete, ref.pending == 0);
    Outcome w = feed_whole(s);
    ASSERT_TRUE(w.ok);
    ASSERT_EQ(w.pending, ref.pending);
    Outcome c = feed_chunks(s, {9, 2, 7, 1});
    ASSERT_TRUE(c.ok);
    ASSERT_EQ(c.pending, ref.pending);
    ASSERT_EQ(utf8_valid(s.data(), s.size()), ref.pending == 0);
  }
  // The generator must actually reach all three outcomes.
  EXPECT_GT(valid, 1000);
  EXPECT_GT(invalid, 1000);
  EXPECT_GT(truncated, 300);
}

}  // namespace
