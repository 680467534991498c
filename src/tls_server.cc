#include "tls_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <strings.h>

#include "tls.h"
#include "tls_tickets.h"

namespace {

// ALPN: a WebSocket upgrade is HTTP/1.1, so that is the one protocol to pick.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  static const unsigned char kHttp11[] = "\x08http/1.1";
  unsigned char* sel = nullptr;
  if (SSL_select_next_proto(&sel, outlen, kHttp11, sizeof kHttp11 - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

// SNI: moves the connection to the context that serves the name. An unknown name gets the
// default certificate, as a client without SNI does.
int select_context(SSL* ssl, int*, void* arg) {
  const TlsServer* server = static_cast<const TlsServer*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* ctx = name ? server->context_for(name) : server->context();
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

// "FILE:LINE: " for an error about the key at `line`.
std::string at(const Config& c, int line) {
  return c.file + ":" + std::to_string(line) + ": ";
}

// One server context with everything but the certificate: versions, ciphers, ALPN, client
// certificates and session resumption, all as configured.
SSL_CTX* new_context(const Config& c, std::string& err) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    err = "cannot create a TLS context: " + tls_error();
    return nullptr;
  }
  bool v12 = c.tls_protocols.find("TLSv1.2") != std::string::npos;
  bool v13 = c.tls_protocols.find("TLSv1.3") != std::string::npos;
  SSL_CTX_set_min_proto_version(ctx, v12 ? TLS1_2_VERSION : TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, v13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(ctx, c.tls_ciphers.c_str());
  SSL_CTX_set_ciphersuites(ctx, c.tls_ciphersuites.c_str());
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  // Resumption must not cross into another program's sessions, and client certificates need it.
  static const unsigned char kSessionContext[] = "wsgate";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  if (c.tls_session_tickets) {
    tls_use_ticket_keys(ctx, c.tls_ticket_rotation_ms);
    // Tickets carry the sessions: a server-side cache would only cost a lock and an insert
    // per handshake.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    // OpenSSL sends two by default, each an encryption, a key derivation and a write: a
    // client reconnecting one connection at a time needs one (a resumption brings a new one).
    SSL_CTX_set_num_tickets(ctx, static_cast<size_t>(c.tls_tickets_per_handshake));
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  if (c.tls_verify_client != ClientVerify::kOff) {
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(c.tls_client_ca.c_str());
    if (!names || SSL_CTX_load_verify_locations(ctx, c.tls_client_ca.c_str(), nullptr) != 1) {
      err = "cannot load the client CAs " + c.tls_client_ca + ": " + tls_error() +
            "; tls_client_ca must be a readable PEM file of CA certificates";
      if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
      SSL_CTX_free(ctx);
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    int mode = SSL_VERIFY_PEER;
    if (c.tls_verify_client == ClientVerify::kRequire) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
  }
  return ctx;
}

// Whether an SNI name is served by `pattern`: equal, or "*.rest" with one label before rest.
bool wildcard_match(const std::string& pattern, const char* name) {
  if (pattern.compare(0, 2, "*.") != 0) return false;
  const char* dot = strchr(name, '.');
  return dot && dot != name && strcasecmp(dot + 1, pattern.c_str() + 2) == 0;
}

}  // namespace

TlsServer::~TlsServer() {
  SSL_CTX_free(default_);
  for (Site& s : sites_) SSL_CTX_free(s.ctx);
}

std::unique_ptr<TlsServer> TlsServer::build(const Config& c, std::vector<std::string>& errors) {
  ERR_clear_error();
  std::unique_ptr<TlsServer> server(new TlsServer);
  size_t before = errors.size();
  std::string err;
  server->default_ = new_context(c, err);
  if (!server->default_ ||
      !tls_use_identity(server->default_, c.tls_cert, c.tls_key, "tls_cert", "tls_key", err)) {
    errors.push_back(at(c, server->default_ ? c.tls_line : c.line_of("tls_client_ca")) + err);
  }
  for (const TlsSiteConfig& t : c.tls_sites) {
    SSL_CTX* ctx = new_context(c, err);
    if (!ctx) break;  // reported with the default context
    server->sites_.push_back({t.names, ctx});
    if (!tls_use_identity(ctx, t.cert, t.key, "cert", "key", err))
      errors.push_back(at(c, t.line) + "[tls " + t.name + "]: " + err);
  }
  if (errors.size() != before) return nullptr;
  server->verify_clients_ = c.tls_verify_client != ClientVerify::kOff;
  SSL_CTX_set_tlsext_servername_callback(server->default_, select_context);
  SSL_CTX_set_tlsext_servername_arg(server->default_, server.get());
  return server;
}

SSL_CTX* TlsServer::context_for(const char* name) const {
  for (const Site& s : sites_)
    for (const std::string& n : s.names)
      if (strcasecmp(n.c_str(), name) == 0) return s.ctx;
  for (const Site& s : sites_)
    for (const std::string& n : s.names)
      if (wildcard_match(n, name)) return s.ctx;
  return default_;
}
