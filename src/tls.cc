#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/util.h>

#include "transport.h"

namespace {

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return evutil_inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         evutil_inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

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

// Forward secrecy and AEAD only for TLS 1.2; 1.3 keeps OpenSSL's default suites.
constexpr char kCiphers12[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

}  // namespace

std::string tls_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

void tls_session_info(SSL* ssl, ConnInfo& info) {
  info.tls_version = SSL_get_version(ssl);
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  info.sni = sni ? sni : "";
}

SSL_CTX* tls_client_context(bool verify, const std::string& ca_file, std::string& err) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    err = tls_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  bool loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) == 1
                                : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) == 1;
  if (!loaded) {
    err = "cannot load CA certificates" + (ca_file.empty() ? "" : " from " + ca_file) + ": " +
          tls_error();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

SSL* tls_client_session(SSL_CTX* ctx, const std::string& host, bool verify) {
  SSL* ssl = SSL_new(ctx);
  if (!ssl) return nullptr;
  bool ip = is_ip_literal(host);
  // SNI takes names only. (SSL_set_tlsext_host_name is a macro with a C cast.)
  if (!ip)
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(host.c_str()));
  if (verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ip)
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    else
      SSL_set1_host(ssl, host.c_str());
  }
  return ssl;
}

SSL_CTX* tls_server_context(const std::string& cert, const std::string& key, std::string& err) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    err = "cannot create a TLS context: " + tls_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(ctx, kCiphers12);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  if (tls_use_identity(ctx, cert, key, "tls_cert", "tls_key", err)) return ctx;
  SSL_CTX_free(ctx);
  return nullptr;
}

bool tls_use_identity(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                      const char* cert_setting, const char* key_setting, std::string& err,
                      bool* key_at_fault) {
  ERR_clear_error();
  bool key_bad = true;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    key_bad = false;
    err = "cannot load the certificate chain " + cert + ": " + tls_error() + "; " + cert_setting +
          " must be a readable PEM file, leaf certificate first";
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL checks the pair as it loads the key; a mismatch deserves its own words.
    bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    err = mismatch
              ? "the private key " + key + " does not match the certificate " + cert + ": " +
                    tls_error() + "; set " + key_setting + " to the key of the leaf certificate"
              : "cannot load the private key " + key + ": " + tls_error() + "; " + key_setting +
                    " must be a readable, unencrypted PEM key";
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    err = "the private key " + key + " does not match the certificate " + cert + ": " +
          tls_error() + "; set " + key_setting + " to the key of the leaf certificate";
  } else {
    return true;
  }
  if (key_at_fault) *key_at_fault = key_bad;
  return false;
}
