/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).
 *
 * Every random value in a run is a pure function of the 64-bit job seed (the Philox
 * key) and a counter. Nothing depends on the rank, the chunk size, the batch size or
 * the order of calls, which is what makes records bit-identical at any rank count.
 * All functions are local and thread-safe (no state), except the one-time set-up
 * noted at qz_rng_init and qz_rng_set_kernel.
 *
 * The mapping (the contract; records depend on it):
 *
 * - A block is Philox4x32-10 at counter (c0, c1, c2, c3) with key (lo32(seed),
 *   hi32(seed)); its four output words w0..w3 form two 64-bit words
 *   out[0] = w0 | w1 << 32 and out[1] = w2 | w3 << 32 (qz_rng_block).
 * - Main streams s = QZ_STREAM_VALUE .. QZ_STREAM_SELECT are sequences of 64-bit
 *   words: word w of stream s is out[w & 1] of the block j = w >> 1 at counter
 *   (lo32(j), hi32(j), s, 0) (qz_rng_word, qz_rng_words). One block serves two
 *   consecutive samples.
 * - Sample i's primary value word is word i of QZ_STREAM_VALUE, its tie key word i of
 *   QZ_STREAM_TIE, its mixture-component word word i of QZ_STREAM_COMPONENT; selection
 *   number s uses word s of QZ_STREAM_SELECT.
 * - Any further randomness sample i needs comes from its private extra words: extra
 *   word m (m = 0, 1, 2, ...) is out[m & 1] of the block at counter
 *   (lo32(i), hi32(i), QZ_STREAM_EXTRA, m >> 1), taken in order m = 0, 1, 2, ...
 *
 * Word to value conversions: qz_u01 and qz_u01_pos below; the normal ziggurat at
 * qz_normal. */
#ifndef QZ_RNG_H
#define QZ_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Streams keep independent uses of randomness apart: no two uses share a counter. */
enum qz_stream {
    QZ_STREAM_VALUE = 0,     /* word i: sample i's primary value word */
    QZ_STREAM_TIE = 1,       /* word i: sample i's tie-break key t_i */
    QZ_STREAM_COMPONENT = 2, /* word i: which mixture component sample i comes from */
    QZ_STREAM_SELECT = 3,    /* word s: selection number s (not a sample index) */
    QZ_STREAM_EXTRA = 4,     /* per-sample extra words (ziggurat wedges, retries, tail);
                                not a word sequence: see the mapping above */
    QZ_STREAM_REQUEST = 5,   /* word `start` seeds the model-server request starting at
                                sample `start` (gen_openai.c) */
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

/* The block at counter (lo32(index), hi32(index), c2, c3) under `seed`, as two
 * 64-bit words: out[0] = w0 | w1 << 32, out[1] = w2 | w3 << 32. */
static inline void qz_rng_block(uint64_t seed, uint64_t index, uint32_t c2, uint32_t c3,
                                uint64_t out[2])
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), c2, c3};
    uint32_t w[4];
    qz_philox4x32_10(ctr, key, w);
    out[0] = (uint64_t)w[0] | ((uint64_t)w[1] << 32);
    out[1] = (uint64_t)w[2] | ((uint64_t)w[3] << 32);
}

/* Word w of main stream `stream` (< QZ_STREAM_EXTRA). */
static inline uint64_t qz_rng_word(uint64_t seed, uint32_t stream, uint64_t w)
{
    uint64_t b[2];
    qz_rng_block(seed, w >> 1, stream, 0, b);
    return b[w & 1];
}

/* Words first .. first+n-1 of main stream `stream` (< QZ_STREAM_EXTRA):
 * out[k] = qz_rng_word(seed, stream, first + k). `first` may be odd; n may be 0.
 * Vectorized (AVX2 when the CPU has it); the caller owns `out` (room for n). */
void qz_rng_words(uint64_t seed, uint32_t stream, uint64_t first, size_t n, uint64_t *out);

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

/* The tie-break key t_i of sample `index` (README "Semantics", order): word `index` of
 * QZ_STREAM_TIE. */
static inline uint64_t qz_tie_key(uint64_t seed, uint64_t index)
{
    return qz_rng_word(seed, QZ_STREAM_TIE, index);
}

/* A standard normal N(0, 1) deviate for sample `index`: a 128-layer ziggurat (exact
 * method). Layer i spans x[i+1] .. x[i] with r[i] = x[i+1] / x[i] (tables built by
 * qz_rng_init). With `word` the sample's primary value word:
 *
 *   try 0: u = 2 * qz_u01(word) - 1, layer i = word & 0x7F (bits unused by qz_u01);
 *          if |u| < r[i] the value is u * x[i] (about 97.2% of samples end here).
 *   Otherwise every further word is the sample's next extra word, in order m = 0, 1, ...:
 *   - i = 0 (bottom layer, outside its rectangle): the tail beyond R = x[1]; each
 *     iteration takes two extra words U1, U2, with x = log(qz_u01_pos(U1)) / R and
 *     y = log(qz_u01_pos(U2)), until -2y >= x * x; the value is R - x, negated if u < 0.
 *   - i > 0 (a wedge): with v = u * x[i] and V the next extra word, the value is v if
 *     qz_u01(V) * (f(x[i]) - f(x[i+1])) < f(v) - f(x[i+1]), f(t) = exp(-t * t / 2).
 *   - Otherwise try k = 1, 2, ... takes the next extra word as its word and repeats the
 *     above (rectangle test, then tail or wedge).
 *
 * Plain IEEE double arithmetic, so the value is bit-identical wherever and in whatever
 * batch it is drawn (given the same libm exp and log). */
double qz_normal(uint64_t seed, uint64_t index);

/* out[k] = qz_normal(seed, first + k) for k < n, bit for bit: a vectorized rectangle
 * test over the batch, then scalar passes over the samples it did not accept. The
 * caller owns `out` (room for n). */
void qz_normal_batch(uint64_t seed, uint64_t first, size_t n, double *out);

/* out[k] = mean + stddev * qz_normal(seed, first + k) for k < n, bit for bit (that
 * expression, evaluated in double), in the same single pass as qz_normal_batch. */
void qz_normal_batch_scaled(uint64_t seed, uint64_t first, size_t n, double mean, double stddev,
                            double *out);

/* Build the ziggurat tables and pick the batch kernels. Idempotent; call once before
 * drawing from several threads (it is also called lazily, but not thread-safely). */
void qz_rng_init(void);

/* The batch kernels: portable C, AVX2, and AVX-512 (AVX-512F, DQ and VL); all give
 * identical results. By default the batch functions run the fastest the CPU has, or
 * the one the environment variable QZ_DRAW_KERNEL names ("portable", "avx2" or
 * "avx512") when the CPU has it (otherwise the fastest below it; other values are
 * ignored). */
enum qz_kernel { QZ_KERNEL_PORTABLE = 0, QZ_KERNEL_AVX2 = 1, QZ_KERNEL_AVX512 = 2 };

/* Use `kernel` (an enum qz_kernel), or the fastest below it that the CPU has; -1
 * restores the default. Returns the kernel now in use. For tests and benchmarks; not
 * thread-safe (call before drawing). */
int qz_rng_set_kernel(int kernel);

/* The kernel the batch functions run (an enum qz_kernel), and its name: "portable",
 * "avx2" or "avx512" (the record's draw_kernel). */
int qz_rng_kernel(void);
const char *qz_rng_kernel_name(void);

#endif
