// The server side of TLS for tls listeners: the [server] certificate and the [tls NAME] ones,
// picked by SNI, with the protocols, ciphers, client-certificate checks and session tickets
// of the configuration. Built whole at load (and again on SIGHUP), then only read.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config.h"

typedef struct ssl_ctx_st SSL_CTX;

class TlsServer {
 public:
  // Loads every certificate and key; null, with one "FILE:LINE: message" per failure in
  // errors, if any does not load.
  static std::unique_ptr<TlsServer> build(const Config& config, std::vector<std::string>& errors);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // The context new connections start with; SNI may switch them to another.
  SSL_CTX* context() const { return default_; }
  // The context for an SNI name: an exact name first, then a wildcard, else the default.
  SSL_CTX* context_for(const char* name) const;
  // Whether clients are asked for certificates (X-SSL-Client-* headers then reach backends).
  bool verifies_clients() const { return verify_clients_; }

 private:
  TlsServer() = default;

  struct Site {
    std::vector<std::string> names;
    SSL_CTX* ctx;
  };
  SSL_CTX* default_ = nullptr;
  std::vector<Site> sites_;
  bool verify_clients_ = false;
};
