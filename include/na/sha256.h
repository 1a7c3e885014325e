/*
 * sha256: the SHA-256 digest (FIPS 180-4), for fingerprints of requests
 * and for naming an API key without storing it (Idempotency-Key records).
 *
 * Incremental: init, update as often as needed, final. Pure, no I/O; any
 * thread, one context per thread at a time.
 */
#ifndef NA_SHA256_H
#define NA_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define NA_SHA256_LEN 32
#define NA_SHA256_HEX (2 * NA_SHA256_LEN + 1) /* hex digits and a NUL */

struct na_sha256 {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t fill;
};

void na_sha256_init(struct na_sha256 *c);
void na_sha256_update(struct na_sha256 *c, const void *data, size_t n);
void na_sha256_final(struct na_sha256 *c, uint8_t out[NA_SHA256_LEN]);

/* The digest of data[0..n) as lower-case hex. */
void na_sha256_hex(const void *data, size_t n, char out[NA_SHA256_HEX]);

/* The digest in `c` (finalized here) as lower-case hex. */
void na_sha256_final_hex(struct na_sha256 *c, char out[NA_SHA256_HEX]);

#endif
