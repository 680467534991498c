// libevent's memory, with the blocks that read chains take kept per thread for reuse.
#pragma once

// Routes libevent's allocations through a small per-thread cache of read-chain blocks; call
// before anything else uses libevent.
void chain_cache_install();

// What a block of `n` bytes lives on: 1 if it was kept for reuse, else 0 (for tests).
int chain_cache_kept(unsigned long n);
