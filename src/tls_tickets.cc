#include "tls_tickets.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <mutex>

namespace {

struct TicketKey {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char mac[32];
  uint64_t epoch = 0;
  bool valid = false;
};

// The current key and the one before it; handshakes on every worker share them.
struct Ring {
  std::mutex mu;
  TicketKey current, previous;
  std::atomic<uint64_t> period_ms{3600000};
};

Ring& ring() {
  static Ring* r = new Ring;  // never freed: a ticket callback may run until the process ends
  return *r;
}

// Steady time, so that a clock step neither expires every ticket nor keeps old keys alive.
uint64_t now_epoch(uint64_t period_ms) {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) /
         period_ms;
}

// Replaces keys whose period is over; the old current key stays readable for one period.
void rotate(Ring& r, uint64_t epoch) {
  if (r.current.valid && r.current.epoch == epoch) return;
  TicketKey fresh;
  if (RAND_bytes(fresh.name, sizeof fresh.name) != 1 ||
      RAND_bytes(fresh.aes, sizeof fresh.aes) != 1 || RAND_bytes(fresh.mac, sizeof fresh.mac) != 1)
    return;  // keep what there is rather than issue tickets under a weak key
  fresh.epoch = epoch;
  fresh.valid = true;
  bool adjacent = r.current.valid && r.current.epoch + 1 == epoch;
  OPENSSL_cleanse(&r.previous, sizeof r.previous);
  if (adjacent) r.previous = r.current;
  r.current = fresh;
  OPENSSL_cleanse(&fresh, sizeof fresh);
}

// The ticket cipher, fetched once: EVP_aes_256_cbc() would make OpenSSL 3 look it up by name
// (locks, string compares) for every ticket.
const EVP_CIPHER* ticket_cipher() {
  static EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return c ? c : EVP_aes_256_cbc();
}

// Sets up the ticket cipher and MAC with `k`.
bool use_key(const TicketKey& k, const unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
             int enc) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k.mac),
                                        sizeof k.mac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return false;
  return EVP_CipherInit_ex(cipher, ticket_cipher(), nullptr, k.aes, iv, enc) == 1;
}

// OpenSSL's ticket callback: 1 to encrypt, 2 to decrypt and issue a fresh ticket, 0 for an
// unknown (expired) key, which falls back to a full handshake; -1 on failure.
int ticket_cb(SSL*, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac, int enc) {
  Ring& r = ring();
  std::lock_guard<std::mutex> lock(r.mu);
  rotate(r, now_epoch(r.period_ms.load()));
  if (enc) {
    if (!r.current.valid || RAND_bytes(iv, 16) != 1) return -1;
    memcpy(name, r.current.name, sizeof r.current.name);
    return use_key(r.current, iv, cipher, mac, 1) ? 1 : -1;
  }
  for (const TicketKey* k : {&r.current, &r.previous})
    if (k->valid && memcmp(name, k->name, sizeof k->name) == 0)
      // 2: a fresh ticket as well, since TLS 1.3 clients use each ticket once.
      return use_key(*k, iv, cipher, mac, 0) ? 2 : -1;
  return 0;
}

}  // namespace

void tls_use_ticket_keys(SSL_CTX* ctx, uint64_t rotation_ms) {
  Ring& r = ring();
  uint64_t period = rotation_ms ? rotation_ms : 1;
  if (r.period_ms.exchange(period) != period) {
    std::lock_guard<std::mutex> lock(r.mu);
    // Epochs of another length do not compare: start over, as a restart would.
    OPENSSL_cleanse(&r.current, sizeof r.current);
    OPENSSL_cleanse(&r.previous, sizeof r.previous);
  }
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
  // A ticket is good for at most two periods; the lifetime hint says so to clients.
  long secs = static_cast<long>(period * 2 / 1000);
  SSL_CTX_set_timeout(ctx, secs > 0 ? secs : 1);
}
