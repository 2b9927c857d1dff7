/* SHA-256 (FIPS 180-4), streaming, and the digest of a whole file: what the record's
 * provenance uses to name the exact job file, tasks file, plugin or program of a run.
 * Local; no allocation. */
#ifndef QZ_SHA256_H
#define QZ_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define QZ_SHA256_BYTES 32
#define QZ_SHA256_HEX (2 * QZ_SHA256_BYTES + 1) /* lowercase hex and its NUL */

struct qz_sha256 {
    uint32_t h[8];
    uint64_t bytes; /* hashed so far */
    unsigned char block[64];
    size_t used; /* bytes waiting in block */
};

void qz_sha256_init(struct qz_sha256 *s);
void qz_sha256_update(struct qz_sha256 *s, const void *data, size_t n);
/* The digest; s must be initialized again before it is used again. */
void qz_sha256_final(struct qz_sha256 *s, unsigned char digest[QZ_SHA256_BYTES]);

/* The digest as lowercase hex. */
void qz_sha256_hex(const unsigned char digest[QZ_SHA256_BYTES], char hex[QZ_SHA256_HEX]);

/* The hex digest of the file at path, read in blocks. QZ_EIO (naming the file and
 * why) when it cannot be opened or read; hex is then "". */
enum qz_status qz_sha256_file(const char *path, char hex[QZ_SHA256_HEX], struct qz_error *err);

#endif
