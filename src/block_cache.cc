// A drained read chain or a released OpenSSL record buffer goes back to a per-thread cache, and
// the next read or write takes it from there: a message then costs no malloc and free. glibc's
// per-thread cache stops at 1 KiB, so these blocks would otherwise go through the arena's lock
// and bins every time.
#include "block_cache.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include <algorithm>

#include <openssl/crypto.h>

#include <event2/event.h>

namespace {

// Smaller blocks are glibc's per-thread cache's to keep.
constexpr size_t kMinBlock = 4096;
constexpr int kMaxSizes = 8;
constexpr int kMaxKeep = 16;
constexpr size_t kSizeBytes = 256 * 1024;  // kept per size and thread at most

struct Size {
  size_t n;
  size_t usable;  // malloc_usable_size of such a block
  int keep;
};
// Set before any worker starts, read-only after.
Size sizes[kMaxSizes];
int nsizes;

struct Cache {
  void* blocks[kMaxSizes][kMaxKeep];
  int count[kMaxSizes];
  unsigned long reused;
  bool registered;
  bool gone;  // the thread is exiting: allocate and free directly
  bool learning;
};

// Trivially destructible, so it stays usable while a thread's other destructors run.
thread_local Cache t_cache;
pthread_key_t exit_key;

// At thread exit: the kept blocks go back to malloc.
void drain(void* arg) {
  Cache* c = static_cast<Cache*>(arg);
  for (int k = 0; k < nsizes; k++)
    while (c->count[k]) free(c->blocks[k][--c->count[k]]);
  c->gone = true;
}

int size_index(size_t n) {
  for (int k = 0; k < nsizes; k++)
    if (sizes[k].n == n) return k;
  return -1;
}

void* take(size_t n) {
  if (n >= kMinBlock) {
    Cache& c = t_cache;
    if (c.learning) block_cache_add_size(n);
    int k = size_index(n);
    if (k >= 0 && c.count[k]) {
      c.reused++;
      return c.blocks[k][--c.count[k]];
    }
  }
  return malloc(n);
}

void give(void* p) {
  if (!p) return;
  Cache& c = t_cache;
  if (!c.gone) {
    size_t u = malloc_usable_size(p);
    for (int k = 0; u >= kMinBlock && k < nsizes; k++) {
      if (u != sizes[k].usable || c.count[k] == sizes[k].keep) continue;
      // The first block kept on a thread registers the drain at its exit.
      if (!c.registered) {
        c.registered = true;
        pthread_setspecific(exit_key, &c);
      }
      c.blocks[k][c.count[k]++] = p;
      return;
    }
  }
  free(p);
}

void* openssl_malloc(size_t n, const char*, int) {
  return take(n);
}

void* openssl_realloc(void* p, size_t n, const char*, int) {
  return realloc(p, n);
}

void openssl_free(void* p, const char*, int) {
  give(p);
}

}  // namespace

void block_cache_install() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  if (pthread_key_create(&exit_key, drain) != 0) return;  // plain malloc for both
  // The read chains of plain and TLS sockets (kPlainMinRead, kRecord), which libevent
  // allocates exactly, header included.
  block_cache_add_size(4096);
  block_cache_add_size(16384);
  // Fails, harmlessly, if OpenSSL has allocated already: it keeps plain malloc.
  CRYPTO_set_mem_functions(openssl_malloc, openssl_realloc, openssl_free);
  event_set_mem_functions(take, realloc, give);
}

void block_cache_add_size(size_t n) {
  if (n < kMinBlock || nsizes == kMaxSizes || size_index(n) >= 0) return;
  void* p = malloc(n);
  if (!p) return;
  size_t keep = std::clamp<size_t>(kSizeBytes / n, 2, kMaxKeep);
  sizes[nsizes] = {n, malloc_usable_size(p), static_cast<int>(keep)};
  free(p);
  nsizes++;
}

void block_cache_learn(bool on) {
  t_cache.learning = on;
}

int block_cache_kept(size_t n) {
  int k = size_index(n);
  return k < 0 ? 0 : t_cache.count[k];
}

unsigned long block_cache_reused() {
  return t_cache.reused;
}
