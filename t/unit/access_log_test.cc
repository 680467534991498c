// The access log's lines: every field in place, and no value from the network able to end a
// field or the line, in text and in JSON.
#include "access_log.h"

#include <gtest/gtest.h>

#include <string>

namespace {

AccessEntry sample() {
  AccessEntry e;
  e.client = "192.0.2.7:40000";
  e.target = "/chat?room=7";
  e.route = "chat";
  e.backend = "ws://127.0.0.1:9001";
  e.origin = "https://example.com";
  e.protocol = "chat.v2";
  e.extensions = "permessage-deflate";
  e.status = 101;
  e.duration_ms = 12345;
  e.bytes_in = 300;
  e.bytes_out = 400;
  e.msgs_in = 3;
  e.msgs_out = 4;
  e.close_code = 1000;
  e.close_reason = "bye";
  e.closed_by = Closer::kClient;
  return e;
}

TEST(AccessLog, TextLineHasEveryField) {
  EXPECT_EQ(access_line_text(sample()),
            "192.0.2.7:40000 \"/chat?room=7\" route=chat backend=ws://127.0.0.1:9001 status=101 "
            "duration=12.345s in=300 out=400 close=1000 \"bye\" msgs=3/4 by=client "
            "origin=\"https://example.com\" protocol=chat.v2 extensions=\"permessage-deflate\"");
}

TEST(AccessLog, TextLineMarksUnknownFields) {
  AccessEntry e;
  e.client = "192.0.2.7:40000";
  e.tls = true;
  EXPECT_EQ(access_line_text(e),
            "192.0.2.7:40000 \"-\" route=- backend=- status=0 duration=0.000s in=0 out=0 close=0 "
            "\"\" msgs=0/0 by=- origin=\"-\" protocol=- extensions=\"-\" tls=- sni=-");
}

TEST(AccessLog, TextEscapesWhatCouldForgeALine) {
  AccessEntry e = sample();
  e.close_reason = "x\"\n192.0.2.9:1 \"/admin\" status=101";
  e.target = "/a\"b\\c\x7f";
  e.origin = "https://e\r\nvil";
  e.tls = true;
  e.tls_version = "TLSv1.3";
  e.sni = "q\"x";
  std::string line = access_line_text(e);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  EXPECT_NE(line.find("\"x\\x22\\x0a192.0.2.9:1 \\x22/admin\\x22 status=101\""), std::string::npos)
      << line;
  EXPECT_NE(line.find("\"/a\\x22b\\x5cc\\x7f\""), std::string::npos) << line;
  EXPECT_NE(line.find("origin=\"https://e\\x0d\\x0avil\""), std::string::npos) << line;
  EXPECT_NE(line.find(" tls=TLSv1.3 sni=q\\x22x"), std::string::npos) << line;
}

TEST(AccessLog, JsonLineHasEveryField) {
  AccessEntry e = sample();
  e.tls = true;
  e.tls_version = "TLSv1.3";
  e.sni = "chat.example.com";
  EXPECT_EQ(access_line_json(e, "2026-11-29T17:30:00.123"),
            "{\"time\":\"2026-11-29T17:30:00.123\",\"client\":\"192.0.2.7:40000\","
            "\"target\":\"/chat?room=7\",\"route\":\"chat\",\"backend\":\"ws://127.0.0.1:9001\","
            "\"origin\":\"https://example.com\",\"protocol\":\"chat.v2\","
            "\"extensions\":\"permessage-deflate\",\"status\":101,\"duration_ms\":12345,"
            "\"bytes_in\":300,\"bytes_out\":400,\"msgs_in\":3,\"msgs_out\":4,\"close_code\":1000,"
            "\"close_reason\":\"bye\",\"closed_by\":\"client\",\"tls_version\":\"TLSv1.3\","
            "\"sni\":\"chat.example.com\"}");
}

TEST(AccessLog, JsonUnknownFieldsAreNull) {
  AccessEntry e;
  e.client = "192.0.2.7:40000";
  std::string line = access_line_json(e, "t");
  EXPECT_NE(line.find("\"target\":null,\"route\":null"), std::string::npos) << line;
  EXPECT_NE(line.find("\"closed_by\":null}"), std::string::npos) << line;
  EXPECT_EQ(line.find("tls_version"), std::string::npos) << "no TLS fields without TLS";
}

TEST(AccessLog, JsonEscaping) {
  EXPECT_EQ(json_escape("a\"b\\c\n\r\t\x01\x7f"), "a\\\"b\\\\c\\n\\r\\t\\u0001\\u007f");
  EXPECT_EQ(json_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")
      << "valid UTF-8 stays as it is";
  EXPECT_EQ(json_escape("\xff\xc3(\xe2\x82"), "\\u00ff\\u00c3(\\u00e2\\u0082")
      << "bytes that are not UTF-8 become \\u00XX, so the line is valid JSON";
  EXPECT_EQ(json_escape("\xed\xa0\x80"), "\\u00ed\\u00a0\\u0080") << "no surrogates";
}

TEST(AccessLog, CloserNames) {
  EXPECT_STREQ(closer_name(Closer::kNone), "-");
  EXPECT_STREQ(closer_name(Closer::kClient), "client");
  EXPECT_STREQ(closer_name(Closer::kBackend), "backend");
  EXPECT_STREQ(closer_name(Closer::kGateway), "wsgate");
}

}  // namespace
