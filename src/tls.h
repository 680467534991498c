// TLS toward wss:// backends: contexts built once per route, sessions per connection.
#pragma once

#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

// A client context: TLS 1.2 or later; with `verify`, peers are checked against `ca_file`
// (PEM) or, when it is empty, the system's trusted CAs. Null with err on failure.
SSL_CTX* tls_client_context(bool verify, const std::string& ca_file, std::string& err);
// A session for one connection to `host`: SNI, and with `verify` the name check as well.
SSL* tls_client_session(SSL_CTX* ctx, const std::string& host, bool verify);
// OpenSSL's reason for the last failure on this thread, or empty.
std::string tls_error();
