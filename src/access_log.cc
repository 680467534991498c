#include "access_log.h"

#include <cinttypes>
#include <cstdio>

#include "log.h"
#include "utf8.h"

namespace {

// A quoted text field: "-" when empty, else the escaped value in quotes.
std::string quoted(std::string_view v) {
  return v.empty() ? "\"-\"" : "\"" + log_escape(v) + "\"";
}

// A bare text field: "-" when empty; escaped, for it may come from the network too.
std::string bare(std::string_view v) {
  return v.empty() ? "-" : log_escape(v);
}

// A JSON string value, or null when empty.
std::string json_string(std::string_view v) {
  return v.empty() ? "null" : "\"" + json_escape(v) + "\"";
}

// The length of the UTF-8 sequence that a lead byte starts, 0 for a byte that cannot lead.
size_t utf8_length(unsigned char c) {
  return c < 0x80                 ? 1
         : c >= 0xc2 && c <= 0xdf ? 2
         : c >= 0xe0 && c <= 0xef ? 3
         : c >= 0xf0 && c <= 0xf4 ? 4
                                  : 0;
}

}  // namespace

const char* closer_name(Closer c) {
  switch (c) {
    case Closer::kClient:
      return "client";
    case Closer::kBackend:
      return "backend";
    case Closer::kGateway:
      return "wsgate";
    case Closer::kNone:
      break;
  }
  return "-";
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = utf8_length(c);
    if (c >= 0x80 && n && i + n <= s.size() && utf8_valid(s.data() + i, n)) {
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
    i++;
  }
  return out;
}

std::string access_line_text(const AccessEntry& e) {
  char nums[200];
  snprintf(
      nums, sizeof nums,
      " status=%d duration=%" PRIu64 ".%03" PRIu64 "s in=%" PRIu64 " out=%" PRIu64 " close=%u ",
      e.status, e.duration_ms / 1000, e.duration_ms % 1000, e.bytes_in, e.bytes_out, e.close_code);
  char msgs[64];
  snprintf(msgs, sizeof msgs, " msgs=%" PRIu64 "/%" PRIu64, e.msgs_in, e.msgs_out);
  std::string line = bare(e.client) + " " + quoted(e.target) + " route=" + bare(e.route) +
                     " backend=" + bare(e.backend) + nums + "\"" + log_escape(e.close_reason) +
                     "\"" + msgs + " by=" + closer_name(e.closed_by) +
                     " origin=" + quoted(e.origin) + " protocol=" + bare(e.protocol) +
                     " extensions=" + quoted(e.extensions);
  if (e.tls) line += " tls=" + bare(e.tls_version) + " sni=" + bare(e.sni);
  return line;
}

std::string access_line_json(const AccessEntry& e, std::string_view time) {
  char nums[320];
  snprintf(nums, sizeof nums,
           ",\"status\":%d,\"duration_ms\":%" PRIu64 ",\"bytes_in\":%" PRIu64
           ",\"bytes_out\":%" PRIu64 ",\"msgs_in\":%" PRIu64 ",\"msgs_out\":%" PRIu64
           ",\"close_code\":%u",
           e.status, e.duration_ms, e.bytes_in, e.bytes_out, e.msgs_in, e.msgs_out, e.close_code);
  std::string line =
      "{\"time\":" + json_string(time) + ",\"client\":" + json_string(e.client) +
      ",\"target\":" + json_string(e.target) + ",\"route\":" + json_string(e.route) +
      ",\"backend\":" + json_string(e.backend) + ",\"origin\":" + json_string(e.origin) +
      ",\"protocol\":" + json_string(e.protocol) + ",\"extensions\":" + json_string(e.extensions) +
      nums + ",\"close_reason\":\"" + json_escape(e.close_reason) + "\",\"closed_by\":" +
      (e.closed_by == Closer::kNone ? std::string("null")
                                    : "\"" + std::string(closer_name(e.closed_by)) + "\"");
  if (e.tls)
    line += ",\"tls_version\":" + json_string(e.tls_version) + ",\"sni\":" + json_string(e.sni);
  return line + "}";
}
