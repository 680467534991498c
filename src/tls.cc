#include "tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/util.h>

#include <memory>

#include "transport.h"

namespace {

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return evutil_inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         evutil_inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::string tls_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// The last commonName of a subject (the most specific), as UTF-8; PROXY v2 headers carry it.
static std::string subject_cn(X509_NAME* name) {
  int at = -1, last = -1;
  while ((at = X509_NAME_get_index_by_NID(name, NID_commonName, at)) >= 0) last = at;
  if (last < 0) return "";
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last)));
  std::string cn = len > 0 ? std::string(reinterpret_cast<char*>(utf8), len) : "";
  OPENSSL_free(utf8);
  return cn;
}

void tls_session_info(SSL* ssl, ConnInfo& info) {
  info.tls_version = SSL_get_version(ssl);
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  info.sni = sni ? sni : "";
  // Only a certificate that verified is worth telling a backend about.
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return;
  auto cc = std::make_unique<ClientCert>();
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio && X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    cc->subject.assign(data, len > 0 ? static_cast<size_t>(len) : 0);
  }
  BIO_free(bio);
  cc->cn = subject_cn(X509_get_subject_name(cert));
  cc->resumed = SSL_session_reused(ssl) == 1;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &md_len) == 1) {
    static const char kHex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < md_len; i++) {
      cc->sha256 += kHex[md[i] >> 4];
      cc->sha256 += kHex[md[i] & 15];
    }
  }
  info.client_cert = std::move(cc);
}

std::string tls_failure_reason(SSL* ssl, unsigned long e) {
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  std::string openssl = std::string("TLS: ") + buf;
  long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  // The verify result names the problem (host name mismatch, unknown CA, expiry ...).
  std::string why =
      verify != X509_V_OK ? std::string(" (") + X509_verify_cert_error_string(verify) + ")" : "";
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return openssl + why;
  switch (ERR_GET_REASON(e)) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return "plain HTTP on a TLS port";
    case SSL_R_WRONG_VERSION_NUMBER:
      return "not a TLS client hello (" + openssl + ")";
    case SSL_R_NO_SHARED_CIPHER:
      return "no shared cipher";
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return "no shared TLS version (the client offers only older ones)";
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return "the client sent no certificate (tls_verify_client = require)";
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return "certificate verify failed" + why;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
      return "the peer does not accept our certificate (" + openssl + ")";
  }
  return openssl + why;
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

TlsFailure tls_failure_kind(unsigned long e) {
  if (!e || ERR_GET_LIB(e) == 0) return TlsFailure::kConnection;
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return TlsFailure::kOther;
  switch (ERR_GET_REASON(e)) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return TlsFailure::kPlainHttp;
    case SSL_R_WRONG_VERSION_NUMBER:
      return TlsFailure::kNotTls;
    case SSL_R_NO_SHARED_CIPHER:
      return TlsFailure::kNoSharedCipher;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return TlsFailure::kVersion;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return TlsFailure::kNoClientCert;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
      return TlsFailure::kCertificate;
  }
  return TlsFailure::kOther;
}
