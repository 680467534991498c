// Blocks that every message takes and gives back, libevent's read chains and OpenSSL's record
// buffers, kept per thread for reuse.
#pragma once

#include <cstddef>

// Routes libevent's and OpenSSL's allocations through the cache. Call first thing: OpenSSL
// takes allocator hooks only until its first allocation.
void block_cache_install();

// Keeps blocks of exactly n bytes (4 KiB and more) too. Only while one thread runs.
void block_cache_add_size(size_t n);

// While on, each block size OpenSSL asks for on this thread becomes a kept size: how TLS
// learns its record buffers' sizes from the OpenSSL it runs with. Only while one thread runs.
void block_cache_learn(bool on);

// How many blocks of n bytes this thread keeps, and how many allocations it has served from
// them so far (for tests).
int block_cache_kept(size_t n);
unsigned long block_cache_reused();
