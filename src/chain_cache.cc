// A drained read chain goes back to a per-thread cache, and the next read takes it from
// there: a message then costs no malloc and free. glibc's per-thread cache stops at 1 KiB, so
// a 4 KiB or 16 KiB block would otherwise go through the arena's lock and bins every time.
#include "chain_cache.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

namespace {

// The block sizes of the plain and the TLS read chain (kPlainMinRead, kRecord), which
// libevent allocates exactly, header included.
constexpr size_t kSizes[] = {4096, 16384};
constexpr int kClasses = 2;
constexpr int kKeep = 16;  // per size and thread: at most 320 KiB idle per thread

struct Cache {
  void* blocks[kClasses][kKeep];
  int count[kClasses];
  bool registered;
  bool gone;  // the thread is exiting: allocate and free directly
};

// Trivially destructible, so it stays usable while a thread's other destructors run.
thread_local Cache tls_cache;
size_t usable[kClasses];  // malloc_usable_size of each class's block
pthread_key_t exit_key;

// At thread exit: the kept blocks go back to malloc.
void drain(void* arg) {
  Cache* c = static_cast<Cache*>(arg);
  for (int k = 0; k < kClasses; k++)
    while (c->count[k]) free(c->blocks[k][--c->count[k]]);
  c->gone = true;
}

int class_of(size_t n) {
  for (int k = 0; k < kClasses; k++)
    if (n == kSizes[k]) return k;
  return -1;
}

void* cached_malloc(size_t n) {
  int k = class_of(n);
  Cache& c = tls_cache;
  if (k >= 0 && c.count[k]) return c.blocks[k][--c.count[k]];
  return malloc(n);
}

void cached_free(void* p) {
  if (!p) return;
  Cache& c = tls_cache;
  if (!c.gone) {
    size_t u = malloc_usable_size(p);
    for (int k = 0; k < kClasses; k++) {
      if (u != usable[k] || c.count[k] == kKeep) continue;
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

}  // namespace

void chain_cache_install() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  for (int k = 0; k < kClasses; k++) {
    void* p = malloc(kSizes[k]);
    usable[k] = p ? malloc_usable_size(p) : 0;
    free(p);
  }
  if (pthread_key_create(&exit_key, drain) != 0) return;  // libevent keeps plain malloc
  event_set_mem_functions(cached_malloc, realloc, cached_free);
}

int chain_cache_kept(unsigned long n) {
  int k = class_of(n);
  return k < 0 ? 0 : tls_cache.count[k];
}
