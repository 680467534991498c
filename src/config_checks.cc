#include "config_checks.h"

#include <openssl/ssl.h>
#include <regex.h>

#include <algorithm>
#include <thread>

#include "cidr.h"
#include "config_values.h"
#include "tls.h"
#include "uri_path.h"

// "auto" means one worker per CPU core, at most the 256 a number may ask for.
bool check_workers(std::string& v, std::string&) {
  if (v != "auto") return true;
  unsigned n = std::thread::hardware_concurrency();
  v = std::to_string(std::clamp(n, 1u, 256u));
  return true;
}

// The error log has nowhere else to go, so it cannot be turned off.
bool check_error_log(std::string& v, std::string& err) {
  if (!v.empty() && v != "off") return true;
  err = "error_log cannot be off; write stderr, syslog or a file path";
  return false;
}

// Request paths are normalized before they are matched, so a route path that is not in
// normal form could never match: refused, with the form to write instead.
bool check_normal_path(const std::string& v, std::string& err) {
  bool prefix = v.back() == '*';
  // A prefix may end inside a segment (/app/.w* serves /app/.well-known): it is checked as the
  // start of a longer segment.
  std::string probe = prefix ? v.substr(0, v.size() - 1) + "x" : v;
  std::string storage;
  std::string_view out;
  const char* why = "";
  if (normalize_path(probe, storage, out, &why) != 0) {
    err = "bad path \"" + v + "\"; " + why;
    return false;
  }
  if (out == probe) return true;
  std::string normal(out);
  if (prefix) normal.back() = '*';
  err = "bad path \"" + v + "\"; request paths are normalized before they are matched (see " +
        "Request paths in wsgate(8)), so no request could match it; write \"" + normal + "\"";
  return false;
}

// A route path: /exact, /prefix/* or "~ REGEX", which must compile cheaply; stored as "~ RE".
bool check_path(std::string& v, std::string& err) {
  if (v.size() > 1 && v[0] == '~') {
    std::string re = trim(v.substr(1));
    if (regex_too_complex(re)) {
      err = "regular expression \"" + re +
            "\" is too complex (stacked repetition such as \"++\" "
            "or {m,n} counts multiplying past 1000); simplify it";
      return false;
    }
    regex_t rx;
    int rc = regcomp(&rx, re.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      char msg[256];
      regerror(rc, &rx, msg, sizeof msg);
      err = "bad regular expression \"" + re + "\": " + msg;
      return false;
    }
    regfree(&rx);
    v = "~ " + re;
  } else if (!v.empty() && v[0] == '/' &&
             v.find_first_of(std::string(" \t?#\0", 5)) != std::string::npos) {
    err = "bad path \"" + v + "\"; a request path has no blanks, and its query (after ?) " +
          "is not matched, so no request could match it";
    return false;
  } else if (!v.empty() && v[0] == '/') {
    if (v.find('*') != std::string::npos && (v.back() != '*' || v.find('*') != v.size() - 1)) {
      err = "bad path \"" + v + "\"; a prefix path has one * at the end, e.g. /vnc/*";
      return false;
    }
    if (!check_normal_path(v, err)) return false;
  } else {
    err = "bad path \"" + v + "\"; write /exact, /prefix/* or ~ REGEX";
    return false;
  }
  return true;
}

// A subprotocol is an HTTP token.
bool check_protocol(std::string& v, std::string& err) {
  if (is_token(v)) return true;
  err = "bad subprotocol \"" + v + "\"; protocols is a comma-separated list of HTTP tokens";
  return false;
}

// An origin is SCHEME://HOST[:PORT], compared without case, so stored in lower case.
bool check_origin(std::string& v, std::string& err) {
  size_t scheme = v.find("://");
  if (scheme == std::string::npos || scheme == 0 || v.size() == scheme + 3 || v.back() == '/') {
    err = "bad origin \"" + v + "\"; write SCHEME://HOST[:PORT], e.g. https://*.example.com";
    return false;
  }
  for (char& c : v) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return true;
}

// Loading the CA file now turns a bad one into an error with its line, not one per connection.
bool check_tls_ca(std::string& v, std::string& err) {
  SSL_CTX* ctx = tls_client_context(true, v, err);
  if (!ctx) return false;
  SSL_CTX_free(ctx);
  return true;
}

// tls_protocols: TLS 1.2 and 1.3, space- or comma-separated; stored as "TLSv1.2 TLSv1.3".
bool check_tls_protocols(std::string& v, std::string& err) {
  std::string words = v;
  for (char& c : words)
    if (c == ',') c = ' ';
  bool v12 = false, v13 = false;
  size_t at = 0;
  while ((at = words.find_first_not_of(" \t", at)) != std::string::npos) {
    size_t end = words.find_first_of(" \t", at);
    std::string w = words.substr(at, end == std::string::npos ? end : end - at);
    at = end;
    if (w == "TLSv1.2") {
      v12 = true;
    } else if (w == "TLSv1.3") {
      v13 = true;
    } else {
      err = "bad TLS protocol \"" + w + "\"; write TLSv1.2 and/or TLSv1.3 (older ones are never " +
            "allowed)";
      return false;
    }
  }
  if (!v12 && !v13) {
    err = "tls_protocols is empty; write TLSv1.2 TLSv1.3, or one of them";
    return false;
  }
  v = v12 && v13 ? "TLSv1.2 TLSv1.3" : v12 ? "TLSv1.2" : "TLSv1.3";
  return true;
}

// Whether OpenSSL takes `v` through `set` on a throwaway server context; its error queue is
// emptied either way.
static bool openssl_takes(const std::string& v, int (*set)(SSL_CTX*, const char*)) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  bool ok = ctx && set(ctx, v.c_str()) == 1;
  SSL_CTX_free(ctx);
  tls_error();
  return ok;
}

// tls_ciphers: OpenSSL must know at least one of them.
bool check_tls_ciphers(std::string& v, std::string& err) {
  if (openssl_takes(v, SSL_CTX_set_cipher_list)) return true;
  err = "no cipher in \"" + v + "\" is known to OpenSSL; write an OpenSSL cipher list (see " +
        "ciphers(1ssl)), or remove the key for the default";
  return false;
}

bool check_tls_ciphersuites(std::string& v, std::string& err) {
  if (openssl_takes(v, SSL_CTX_set_ciphersuites)) return true;
  err = "bad TLS 1.3 cipher suites \"" + v + "\"; write names such as " + kDefaultTlsCiphersuites +
        ", separated by colons";
  return false;
}

// A [tls] name: a DNS name, or *. and one; stored in lower case.
bool check_tls_name(std::string& v, std::string& err) {
  std::string host = v.compare(0, 2, "*.") == 0 ? v.substr(2) : v;
  bool ok = !host.empty() && host.size() <= 253 && host.front() != '.' && host.back() != '.' &&
            host.find("..") == std::string::npos;
  for (char c : host) ok = ok && (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.');
  if (!ok) {
    err = "bad name \"" + v + "\"; write host names such as example.com or *.example.com";
    return false;
  }
  for (char& c : v) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return true;
}

// The metrics listener speaks plain HTTP to a scraper: no tls word after the address.
bool check_plain_listen(std::string& v, std::string& err) {
  size_t blank = v.find_first_of(" \t");
  if (blank == std::string::npos) return true;
  err = "the [metrics] listener serves plain HTTP; remove \"" + trim(v.substr(blank)) +
        "\" after the address";
  return false;
}

// Each network is parsed now, so that a typo is an error with its line, not a proxy that is
// silently untrusted; host bits are masked off as nginx's set_real_ip_from does.
bool check_trusted_proxy(std::string& v, std::string& err) {
  std::string out;
  size_t at = 0;
  while ((at = v.find_first_not_of(" \t", at)) != std::string::npos) {
    size_t end = v.find_first_of(" \t", at);
    Cidr c;
    if (!parse_cidr(v.substr(at, end == std::string::npos ? end : end - at), c, err)) return false;
    out += (out.empty() ? "" : " ") + format_cidr(c);
    at = end;
  }
  v = out;
  return true;
}
