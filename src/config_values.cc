// Value syntax for the config: numbers, sizes, durations, lists, addresses and backends,
// read from text and written back; nothing here knows a key.
#include "config_values.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include <event2/util.h>

#include <algorithm>
#include <sstream>

namespace {

// The port of a parsed listen address.
int sockaddr_port(const ListenAddr& a) {
  const sockaddr* sa = reinterpret_cast<const sockaddr*>(&a.addr);
  if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
}

// The largest unit that divides n evenly, so that the text reads back to the same value.
std::string format_scaled(uint64_t n, const char* const units[], const uint64_t scales[],
                          int count) {
  for (int i = count - 1; i > 0; i--)
    if (n != 0 && n % scales[i] == 0) return std::to_string(n / scales[i]) + units[i];
  return std::to_string(n / scales[0]) + units[0];
}

}  // namespace

// Values and list items never keep their surrounding blanks.
std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Lists are comma-separated; empty items are dropped.
std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// RFC 7230 tchar: no separators, controls or blanks.
bool is_token(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?={}", c)) return false;
  return true;
}

// Digits only, refusing overflow; the caller judges the suffix.
bool parse_number(const std::string& s, uint64_t& n, std::string& suffix) {
  size_t i = 0;
  n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (n > (UINT64_MAX - 9) / 10) return false;
    n = n * 10 + (s[i++] - '0');
  }
  if (i == 0) return false;
  suffix = s.substr(i);
  return true;
}

// Names are resolved per connection, so only the form is checked here.
bool parse_host_port(std::string hp, int default_port, std::string& host, int& port) {
  size_t colon = hp.rfind(':');
  size_t bracket = hp.rfind(']');
  std::string port_text;
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    port_text = hp.substr(colon + 1);
    hp.resize(colon);
  }
  bool bracketed = hp.size() > 2 && hp.front() == '[' && hp.back() == ']';
  if (bracketed) hp = hp.substr(1, hp.size() - 2);
  if (hp.empty() || hp.find_first_of("[]/") != std::string::npos) return false;
  // "::1:7001" could be an address with a port or one without: IPv6 goes in brackets.
  if (!bracketed && hp.find(':') != std::string::npos) return false;
  uint64_t n = static_cast<uint64_t>(default_port);
  std::string rest;
  if (!port_text.empty() || default_port == 0)
    if (!parse_number(port_text, n, rest) || !rest.empty() || n < 1 || n > 65535) return false;
  host = hp;
  port = static_cast<int>(n);
  return true;
}

// Listeners bind numeric addresses only, so no name lookup at start.
bool parse_listen_address(const std::string& v, ListenAddr& a) {
  a = ListenAddr();
  a.text = v;
  a.addrlen = sizeof a.addr;
  return evutil_parse_sockaddr_port(v.c_str(), reinterpret_cast<sockaddr*>(&a.addr), &a.addrlen) ==
             0 &&
         v.find(':') != std::string::npos && v.back() != ']' && sockaddr_port(a) != 0;
}

// Each scheme gets its own error, naming the form to write.
bool parse_backend(const std::string& v, BackendAddr& b, std::string& err) {
  b = BackendAddr();
  b.text = v;
  bool ws = v.compare(0, 5, "ws://") == 0, wss = v.compare(0, 6, "wss://") == 0;
  size_t scheme = v.find("://");
  size_t authority_end = scheme == std::string::npos ? 0 : v.find('/', scheme + 3);
  if (scheme != std::string::npos &&
      v.substr(scheme + 3,
               authority_end == std::string::npos ? std::string::npos : authority_end - scheme - 3)
              .find('@') != std::string::npos) {
    // wsgate sends no credentials, and a URL that carries them would show them in every log.
    err =
        "backend URL has user information (USER:PASSWORD@ before the host), which wsgate "
        "does not send; remove it (the client's own headers reach the backend)";
    b.text.clear();
    return false;
  }
  if (v == "echo") {
    b.kind = BackendAddr::Kind::kEcho;
  } else if (v.compare(0, 5, "unix:") == 0 && v.size() > 5) {
    b.kind = BackendAddr::Kind::kUnix;
    b.path = v.substr(5);
    if (b.path.size() >= sizeof(sockaddr_un::sun_path)) {
      err = "unix socket path is too long (at most 107 bytes)";
      return false;
    }
  } else if (v.compare(0, 6, "tcp://") == 0 || v.compare(0, 6, "tls://") == 0) {
    bool tls = v[1] == 'l';
    b.kind = tls ? BackendAddr::Kind::kTls : BackendAddr::Kind::kTcp;
    std::string hp = v.substr(6);
    if (!hp.empty() && hp.back() == '/') hp.pop_back();
    if (!parse_host_port(hp, 0, b.host, b.port)) {
      err = "bad backend \"" + v + "\"; write " +
            (tls ? "tls://HOST:PORT, e.g. tls://db.internal:5433"
                 : "tcp://HOST:PORT, e.g. tcp://127.0.0.1:7000");
      return false;
    }
  } else if (ws || wss) {
    b.kind = ws ? BackendAddr::Kind::kWs : BackendAddr::Kind::kWss;
    std::string rest = v.substr(ws ? 5 : 6);
    size_t slash = rest.find('/');
    if (slash != std::string::npos) {
      b.path = rest.substr(slash);
      rest.resize(slash);
    }
    bool bad_path = false;
    for (unsigned char c : b.path) bad_path |= c <= 0x20 || c >= 0x7F || c == '?' || c == '#';
    if (bad_path || !parse_host_port(rest, ws ? 80 : 443, b.host, b.port)) {
      err = "bad backend \"" + v +
            "\"; write ws[s]://HOST[:PORT][/PATH], e.g. ws://127.0.0.1:9001/socket";
      return false;
    }
  } else {
    err = "bad backend \"" + v +
          "\"; write tcp://HOST:PORT, tls://HOST:PORT, ws[s]://HOST[:PORT][/PATH], unix:/PATH or "
          "echo";
    return false;
  }
  return true;
}

// glibc's regcomp can need gigabytes for stacked repetition ("a++++", "(a{99}){99}"):
// refuse adjacent repetition operators (undefined in POSIX ERE) and large {m,n} products.
bool regex_too_complex(const std::string& re) {
  uint64_t product = 1;
  bool after_repeat = false;
  for (size_t i = 0; i < re.size(); i++) {
    char c = re[i];
    if (c == '\\') {
      i++;
      after_repeat = false;
    } else if (c == '[') {
      size_t j = i + 1;
      if (j < re.size() && re[j] == '^') j++;
      if (j < re.size() && re[j] == ']') j++;
      while (j < re.size() && re[j] != ']') j++;
      i = j;
      after_repeat = false;
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
      if (after_repeat) return true;
      after_repeat = true;
      if (c != '{') continue;
      uint64_t bound = 0;
      for (i++; i < re.size() && re[i] != '}'; i++)
        if (re[i] >= '0' && re[i] <= '9')
          bound = std::min<uint64_t>(bound * 10 + (re[i] - '0'), 100000);
        else
          bound = 0;  // after the comma: the upper bound counts
      product *= std::max<uint64_t>(bound, 1);
      if (product > 1000) return true;
    } else {
      after_repeat = false;
    }
  }
  return false;
}

// The largest of k, M, G that keeps the value whole.
std::string format_size(uint64_t bytes) {
  static const char* const units[] = {"", "k", "M", "G"};
  static const uint64_t scales[] = {1, 1 << 10, 1 << 20, 1 << 30};
  return format_scaled(bytes, units, scales, 4);
}

// The largest of ms, s, m, h that keeps the value whole.
std::string format_duration(uint64_t ms) {
  if (ms == 0) return "0";
  static const char* const units[] = {"ms", "s", "m", "h"};
  static const uint64_t scales[] = {1, 1000, 60 * 1000, 3600 * 1000};
  return format_scaled(ms, units, scales, 4);
}

// Suffixes are powers of 1024, either case; false on overflow.
bool parse_size(const std::string& s, uint64_t& out) {
  uint64_t n;
  std::string suffix;
  if (!parse_number(s, n, suffix)) return false;
  int shift = 0;
  if (suffix.empty())
    shift = 0;
  else if (suffix == "k" || suffix == "K")
    shift = 10;
  else if (suffix == "m" || suffix == "M")
    shift = 20;
  else if (suffix == "g" || suffix == "G")
    shift = 30;
  else
    return false;
  if (n > (UINT64_MAX >> shift)) return false;
  out = n << shift;
  return true;
}

// A bare number is seconds; false on overflow.
bool parse_duration(const std::string& s, uint64_t& out_ms) {
  uint64_t n;
  std::string suffix;
  if (!parse_number(s, n, suffix)) return false;
  uint64_t scale;
  if (suffix == "ms")
    scale = 1;
  else if (suffix.empty() || suffix == "s")
    scale = 1000;
  else if (suffix == "m")
    scale = 60 * 1000;
  else if (suffix == "h")
    scale = 3600 * 1000;
  else
    return false;
  if (n > UINT64_MAX / scale / 1000) return false;
  out_ms = n * scale;
  return true;
}
