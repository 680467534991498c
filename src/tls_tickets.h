// Session ticket keys for tls listeners: made at random in memory, replaced every rotation
// period, the previous key still accepted. A resumed session gets a fresh ticket. One ring per process, so
// tickets outlive a reload but never a restart.
#pragma once

#include <cstdint>

typedef struct ssl_ctx_st SSL_CTX;

// Makes `ctx` encrypt and decrypt its tickets with the ring's keys. The ring rotates every
// `rotation_ms`; the latest call sets the period.
void tls_use_ticket_keys(SSL_CTX* ctx, uint64_t rotation_ms);
