// libevent's memory, with the blocks that read chains take kept per thread for reuse.
#pragma once

// Routes libevent's allocations through a small per-thread cache of read-chain blocks; call
// before anything else uses libevent.
void chain_cache_install();

// How many blocks of `n` bytes this thread keeps for reuse (for tests).
int chain_cache_kept(unsigned long n);
