// The keys' own checks: each runs on one value (one item of a list) before its type's parser
// stores it, and may rewrite it (e.g. to lower case); false with err to refuse it.
#pragma once

#include <string>

// "auto" means one worker per CPU core, at most the 256 a number may ask for.
bool check_workers(std::string& v, std::string&);
// The error log has nowhere else to go, so it cannot be turned off.
bool check_error_log(std::string& v, std::string& err);
// A route path: /exact, /prefix/* or "~ REGEX", which must compile cheaply; stored as "~ RE".
bool check_path(std::string& v, std::string& err);
// A subprotocol is an HTTP token.
bool check_protocol(std::string& v, std::string& err);
// An origin is SCHEME://HOST[:PORT], compared without case, so stored in lower case.
bool check_origin(std::string& v, std::string& err);
// Loading the CA file now turns a bad one into an error with its line, not one per connection.
bool check_tls_ca(std::string& v, std::string& err);
// tls_protocols: TLS 1.2 and 1.3, space- or comma-separated; stored as "TLSv1.2 TLSv1.3".
bool check_tls_protocols(std::string& v, std::string& err);
// tls_ciphers: OpenSSL must know at least one of them.
bool check_tls_ciphers(std::string& v, std::string& err);
// TLS 1.3 suite names, colon-separated, each known to OpenSSL.
bool check_tls_ciphersuites(std::string& v, std::string& err);
// A [tls] name: a DNS name, or *. and one; stored in lower case.
bool check_tls_name(std::string& v, std::string& err);
// The metrics listener speaks plain HTTP to a scraper: no tls word after the address.
bool check_plain_listen(std::string& v, std::string& err);
// trusted_proxies: IPv4 and IPv6 addresses or networks, blank-separated within an item;
// stored with host bits masked off, e.g. "10.0.0.0/8 192.0.2.7".
bool check_trusted_proxy(std::string& v, std::string& err);
