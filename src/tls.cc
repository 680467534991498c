#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/util.h>

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
