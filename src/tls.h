// TLS toward tls:// and wss:// backends (contexts built once per route, sessions per
// connection), and what a finished handshake tells about a client (the contexts for clients:
// tls_server.h).
#pragma once

#include <cstdint>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
struct ConnInfo;
enum class TlsFailure : uint8_t;

// A client context: TLS 1.2 or later; with `verify`, peers are checked against `ca_file`
// (PEM) or, when it is empty, the system's trusted CAs. Null with err on failure.
SSL_CTX* tls_client_context(bool verify, const std::string& ca_file, std::string& err);
// A session for one connection to `host`: SNI, and with `verify` the name check as well.
SSL* tls_client_session(SSL_CTX* ctx, const std::string& host, bool verify);
// Loads the chain `cert` (PEM, leaf first) and its private key `key` into ctx: the server's
// certificate, or the one a client context shows backends. False with err naming the file,
// OpenSSL's reason and the fix in terms of the settings named; *key_at_fault tells whether the
// key (or else the chain) is to blame.
bool tls_use_identity(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                      const char* cert_setting, const char* key_setting, std::string& err,
                      bool* key_at_fault = nullptr);
// Fills what the finished handshake on an accepted connection tells: version, SNI and a
// verified client certificate.
void tls_session_info(SSL* ssl, ConnInfo& info);
// Why a TLS handshake failed, from OpenSSL's error code `e` and the connection: plain words for
// the common cases (plain HTTP on a TLS port, no shared cipher or version, a client certificate
// missing or not verifying), else OpenSSL's reason string.
std::string tls_failure_reason(SSL* ssl, unsigned long e);
// The kind of a client's failed handshake, for the metrics: tls_failure_reason's cases in a
// fixed set; a socket error (no OpenSSL error, `e` 0) is kConnection.
TlsFailure tls_failure_kind(unsigned long e);
// OpenSSL's reason for the last failure on this thread, or empty.
std::string tls_error();
