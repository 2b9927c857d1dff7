/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).
 *
 * Every random value in a run is a pure function of (seed, index, stream, attempt):
 * the key is the 64-bit job seed, the counter is (index low, index high, stream,
 * attempt). Nothing depends on the rank, the chunk size or the order of calls, which
 * is what makes records bit-identical at any rank count. All functions are local and
 * thread-safe (no state). */
#ifndef QZ_RNG_H
#define QZ_RNG_H

#include <stdint.h>

/* Streams keep independent uses of randomness apart: no two uses share a counter. */
enum qz_stream {
    QZ_STREAM_VALUE = 0,     /* the sample's value (attempt k for rejection loops) */
    QZ_STREAM_TIE = 1,       /* the sample's tie-break key t_i */
    QZ_STREAM_COMPONENT = 2, /* which mixture component the sample comes from */
    QZ_STREAM_SELECT = 3,    /* the selection draw (index = selection number, not a sample) */
};

#define QZ_PHILOX_M0 0xD2511F53u
#define QZ_PHILOX_M1 0xCD9E8D57u
#define QZ_PHILOX_W0 0x9E3779B9u
#define QZ_PHILOX_W1 0xBB67AE85u

/* Philox4x32 with 10 rounds: out = philox(ctr, key). */
static inline void qz_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    /* Unrolled, the rounds pipeline: about 12 ns instead of 20 per call at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 10
#endif
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)QZ_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)QZ_PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += QZ_PHILOX_W0;
        k1 += QZ_PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* 128 random bits for (seed, index, stream, attempt), as two 64-bit words:
 * out[0] = w0 | w1 << 32, out[1] = w2 | w3 << 32. */
static inline void qz_rng_block(uint64_t seed, uint64_t index, uint32_t stream, uint32_t attempt,
                                uint64_t out[2])
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), stream, attempt};
    uint32_t w[4];
    qz_philox4x32_10(ctr, key, w);
    out[0] = (uint64_t)w[0] | ((uint64_t)w[1] << 32);
    out[1] = (uint64_t)w[2] | ((uint64_t)w[3] << 32);
}

/* A double in [0, 1) from the top 53 bits of a word. */
static inline double qz_u01(uint64_t bits)
{
    return (double)(bits >> 11) * 0x1p-53;
}

/* A double in (0, 1] from the top 53 bits of a word (safe for log). */
static inline double qz_u01_pos(uint64_t bits)
{
    return (double)((bits >> 11) + 1) * 0x1p-53;
}

/* The tie-break key t_i of sample `index` (SPEC §2.1). */
static inline uint64_t qz_tie_key(uint64_t seed, uint64_t index)
{
    uint64_t b[2];
    qz_rng_block(seed, index, QZ_STREAM_TIE, 0, b);
    return b[0];
}

/* A standard normal N(0, 1) deviate for sample `index`, drawn with a 128-layer
 * ziggurat from stream QZ_STREAM_VALUE (attempt 0, 1, ... on rejection). Exact
 * method: the tables are fixed at qz_rng_init and arithmetic is plain IEEE double,
 * so the value is bit-identical wherever and in whatever order it is drawn. */
double qz_normal(uint64_t seed, uint64_t index);

/* Build the ziggurat tables. Idempotent; call once before any qz_normal (it is also
 * called lazily, but not thread-safely). */
void qz_rng_init(void);

#endif
