// The BIO under a TlsTransport's SSL: OpenSSL's socket BIO, but with bare system calls.
#pragma once

typedef struct bio_st BIO;

// A BIO that reads and writes socket `fd` (not closed with it); null if out of memory.
BIO* tls_socket_bio(int fd);
