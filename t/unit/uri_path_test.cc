// Request-path normalization: RFC 3986's remove_dot_segments, the percent-encoding policy,
// merged slashes, and the paths refused with 400.
#include "uri_path.h"

#include <gtest/gtest.h>

#include <string>

namespace {

// The normalized path, or "400: why" when it is refused.
std::string norm(std::string_view in) {
  std::string storage;
  std::string_view out;
  const char* why = "";
  int status = normalize_path(in, storage, out, &why);
  if (status) return std::to_string(status) + ": " + why;
  return std::string(out);
}

bool refused(std::string_view in) {
  return norm(in).rfind("400: ", 0) == 0;
}

TEST(UriPath, AlreadyNormalPathsAreViewedNotCopied) {
  for (std::string_view in : {"/", "/echo", "/app/x", "/app/x/", "/a.b/..c/c..d/.e"}) {
    std::string storage;
    std::string_view out;
    const char* why = "";
    ASSERT_EQ(0, normalize_path(in, storage, out, &why)) << in;
    EXPECT_EQ(in, out);
    EXPECT_EQ(in.data(), out.data()) << in << " was copied";
  }
}

// RFC 3986 section 5.2.4's own examples, and the path parts of section 5.4.1's results, with
// the base's path /b/c/d;p merged in as section 5.2.3 does.
TEST(UriPath, RemoveDotSegmentsAsRfc3986) {
  EXPECT_EQ("/a/g", norm("/a/b/c/./../../g"));
  EXPECT_EQ("/mid/6", norm("/mid/content=5/../6"));
  EXPECT_EQ("/b/c/g", norm("/b/c/./g"));
  EXPECT_EQ("/b/c/g/", norm("/b/c/g/"));
  EXPECT_EQ("/b/c/", norm("/b/c/."));
  EXPECT_EQ("/b/c/", norm("/b/c/./"));
  EXPECT_EQ("/b/", norm("/b/c/.."));
  EXPECT_EQ("/b/", norm("/b/c/../"));
  EXPECT_EQ("/b/g", norm("/b/c/../g"));
  EXPECT_EQ("/", norm("/b/c/../.."));
  EXPECT_EQ("/", norm("/b/c/../../"));
  EXPECT_EQ("/g", norm("/b/c/../../g"));
  EXPECT_EQ("/b/c/g.", norm("/b/c/g."));
  EXPECT_EQ("/b/c/.g", norm("/b/c/.g"));
  EXPECT_EQ("/b/c/g..", norm("/b/c/g.."));
  EXPECT_EQ("/b/c/..g", norm("/b/c/..g"));
  EXPECT_EQ("/b/g", norm("/b/c/./../g"));
  EXPECT_EQ("/b/c/g/", norm("/b/c/./g/."));
  EXPECT_EQ("/b/c/g/h", norm("/b/c/g/./h"));
  EXPECT_EQ("/b/c/h", norm("/b/c/g/../h"));
  EXPECT_EQ("/b/c/g;x=1/y", norm("/b/c/g;x=1/./y"));
  EXPECT_EQ("/b/c/y", norm("/b/c/g;x=1/../y"));
}

TEST(UriPath, TrailingDotSegmentsLeaveASlash) {
  EXPECT_EQ("/", norm("/."));
  EXPECT_EQ("/", norm("/a/.."));
  EXPECT_EQ("/app/", norm("/app/."));
  EXPECT_EQ("/app/", norm("/app/x/.."));
  EXPECT_EQ("/app/", norm("/app/x/%2E%2e"));
}

// Above the root, RFC 3986 clamps; a request doing it is up to no good, and nginx refuses it.
TEST(UriPath, ClimbingAboveTheRootIsRefused) {
  EXPECT_EQ("400: request path climbs above the root with ..", norm("/../x"));
  EXPECT_TRUE(refused("/.."));
  EXPECT_TRUE(refused("/app/../../x"));
  EXPECT_TRUE(refused("/%2e%2e/x"));
  EXPECT_TRUE(refused("/app/%2E%2E/%2e./admin"));
  EXPECT_TRUE(refused("//..//x"));
}

TEST(UriPath, EncodedDotsAreDotSegments) {
  EXPECT_EQ("/admin", norm("/app/%2e%2e/admin"));
  EXPECT_EQ("/admin", norm("/app/%2E%2E/admin"));
  EXPECT_EQ("/admin", norm("/app/.%2e/admin"));
  EXPECT_EQ("/app/x", norm("/app/%2e/x"));
}

TEST(UriPath, UnreservedAreDecodedOthersKeptUpperCase) {
  EXPECT_EQ("/app/~user", norm("/app/%7euser"));
  EXPECT_EQ("/aZ09-._~", norm("/%61%5A%30%39%2D%2E%5F%7E"));
  EXPECT_EQ("/a%20b%3F%23%25%C3%A9", norm("/a%20b%3f%23%25%c3%a9"));
  EXPECT_EQ("/%FF%80", norm("/%ff%80"));
  // A decoded '%' would make a new escape; %25 stays as it is.
  EXPECT_EQ("/%2541", norm("/%2541"));
}

// An encoded slash is data inside a segment, not a separator: it cannot make a dot-segment.
TEST(UriPath, EncodedSlashIsNotASeparator) {
  EXPECT_EQ("/app/a%2Fb", norm("/app/a%2fb"));
  EXPECT_EQ("/app/..%2F..%2Fadmin", norm("/app/..%2f..%2fadmin"));
  EXPECT_EQ("/app/..%2F", norm("/app/%2e%2e%2F"));
  EXPECT_EQ("/app/%2F", norm("/app/%2F"));
}

TEST(UriPath, MalformedPercentEncodingIsRefused) {
  EXPECT_EQ("400: malformed percent-encoding in the request path", norm("/app/%"));
  EXPECT_TRUE(refused("/app/%4"));
  EXPECT_TRUE(refused("/app/%zz"));
  EXPECT_TRUE(refused("/app/%4g"));
  EXPECT_TRUE(refused("/app/%g4"));
  EXPECT_TRUE(refused("/%%41"));
  EXPECT_TRUE(refused("/a%/b"));
}

TEST(UriPath, EncodedNulIsRefused) {
  EXPECT_EQ("400: request path has an encoded NUL (%00)", norm("/app/%00"));
  EXPECT_TRUE(refused("/%00/x"));
  EXPECT_TRUE(refused("/x/../%00"));
}

TEST(UriPath, BackslashIsRefusedEncodedBackslashIsData) {
  EXPECT_EQ("400: request path has a backslash; encode it as %5C", norm("/app/..\\admin"));
  EXPECT_TRUE(refused("/app\\x"));
  EXPECT_TRUE(refused("\\"));
  EXPECT_EQ("/app/..%5Cadmin", norm("/app/..%5cadmin"));
}

TEST(UriPath, SlashesAreMerged) {
  EXPECT_EQ("/app/x", norm("/app//x"));
  EXPECT_EQ("/app/x/", norm("//app///x//"));
  EXPECT_EQ("/", norm("//"));
  // Merged before the dot-segments go, as nginx does: ".." takes "a", not an empty segment.
  EXPECT_EQ("/b", norm("/a//../b"));
}

TEST(UriPath, EmptyAndRelativePaths) {
  EXPECT_EQ("/", norm(""));
  EXPECT_EQ("400: request path must start with /", norm("mid/content=5/../6"));
  EXPECT_TRUE(refused("a"));
  EXPECT_TRUE(refused("*"));
}

TEST(UriPath, VeryLongPaths) {
  std::string deep, climb;
  for (int i = 0; i < 4000; i++) deep += "/a";
  EXPECT_EQ(deep, norm(deep));
  std::string up = deep;
  for (int i = 0; i < 4000; i++) up += "/..";
  EXPECT_EQ("/", norm(up));
  EXPECT_TRUE(refused(up + "/.."));
  std::string dots(8000, '/');
  EXPECT_EQ("/", norm(dots));
  std::string enc;
  for (int i = 0; i < 2000; i++) enc += "%2e/";
  EXPECT_EQ("/", norm("/" + enc));
}

}  // namespace
