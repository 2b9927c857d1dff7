/* Batch words and standard normal deviates by a 128-layer ziggurat (Marsaglia & Tsang
 * 2000, in the ZIGNOR layout of Doornik 2005), fed by the counter-based Philox words of
 * rng.h.
 *
 * Reproducibility: every quantity is plain IEEE double arithmetic. In the ziggurat the
 * only expression of the form a * b + c that reaches a result is 2 * u - 1, whose
 * product is exact, so contraction into fused multiply-adds (which differs between
 * machines) cannot change a result even where the compiler is allowed to contract
 * (the wedge test's squeeze below has more, but only bounds from it matter, and they
 * hold contracted or not); mean + stddev * z (qz_normal_batch_scaled, in both kernels:
 * GCC's intrinsics are plain vector arithmetic, contracted like any other) relies on
 * the build's -ffp-contract=off. The tables and the wedge and tail tests use exp, log
 * and sqrt from libm, so bit-identical values also need the same libm.
 *
 * Speed: each batch function has three kernels, portable C, AVX2 and AVX-512
 * (intrinsics in functions compiled with target("avx2") or target("avx512f,...")),
 * picked at run time by CPU detection (or QZ_DRAW_KERNEL), so the default build runs
 * the fastest the CPU has and still runs elsewhere. The AVX-512 kernels are the AVX2
 * ones on 8 lanes (see words_avx512). The AVX2 kernels run Philox on four blocks per vector with
 * vpmuludq and the normal's rectangle test on four samples per vector; the normal's AVX2 pass
 * interleaves the rectangle tests of one step of 32 samples with the Philox rounds of
 * the next (software pipelining: the rounds load the vector units, the tests the load
 * and scalar units, and the out-of-order window is too small to overlap them when
 * they come one after the other). GCC 12 does not vectorize Philox's
 * 32 x 32 -> 64-bit products from plain C well, with or without target_clones: it
 * emulates 64 x 64-bit products or shuffles 32-bit lanes, 3 to 4 times slower than
 * vpmuludq on 64-bit lanes, hence the intrinsics. Integer operations and single IEEE
 * operations give the same bits in either kernel; the unit test checks both against
 * the scalar definitions.
 *
 * The 2.8% of samples that fail the rectangle test (normal_fixup, shared by both
 * kernels) take the same steps as in qz_normal, batched per pass of up to QZ_SUB
 * samples: their extra blocks 0 (vectorized), try 0's wedge tests (four at a time in
 * the AVX2 kernel), try 1's rectangle tests, each a branch-free loop over the samples
 * still undecided, then qz_normal's
 * scalar code for the few left (the tail, and try 1's rectangle rejects). The wedge
 * test decides with a proven squeeze of libm's exp (wedge_init) and calls exp only in
 * the rare case that the squeeze leaves open, so its decisions are exactly those of
 * the plain test. */
#include "rng.h"

#include "error.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "qz_normal needs FLT_EVAL_METHOD == 0 (no excess precision) to be reproducible"
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#define QZ_HAVE_AVX2 1
#include <immintrin.h>
#define QZ_AVX2 __attribute__((target("avx2")))
#define QZ_AVX2_INLINE static inline __attribute__((target("avx2"), always_inline))
#else
#define QZ_HAVE_AVX2 0
#endif

#if defined(__GNUC__)
#define QZ_NOINLINE __attribute__((noinline))
#define QZ_UNLIKELY(c) __builtin_expect(!!(c), 0)
#define QZ_CTZ64(x) __builtin_ctzll(x)
#else
#define QZ_NOINLINE
#define QZ_UNLIKELY(c) (c)
static int QZ_CTZ64(uint64_t x)
{
    int n = 0;
    while (!(x & 1)) {
        x >>= 1;
        n++;
    }
    return n;
}
#endif

#define QZ_ZIG_LAYERS 128
#define QZ_ZIG_MASK 0x7Fu
/* R: the start of the tail; V: the common area of every layer (the bottom layer's
 * area is its rectangle [0, R] x [0, f(R)] plus the tail beyond R). */
#define QZ_ZIG_R 3.442619855899
#define QZ_ZIG_V 9.91256303526217e-3

/* Samples per pass of qz_normal_batch: its buffers (words, rejected list) stay in L1
 * (with the caller's output), and the per-pass costs (mispredicted loop exits, part
 * groups of extra blocks) are spread over many samples. A multiple of 64 (one
 * rejection mask word per 64 samples). */
#define QZ_SUB 2048
/* Rejected samples per part of normal_fixup (its extra-block buffer); about 57 of a
 * pass of QZ_SUB are rejected on average. A multiple of 8. */
#define QZ_FIX 256
/* Groups of 4 Philox blocks interleaved by the AVX2 kernels, and the words (samples)
 * they make per step. QZ_SUB is a multiple of QZ_STEP. */
#define QZ_PG 4
#define QZ_STEP (8 * QZ_PG)

/* x[i] is the right edge of layer i (decreasing in i: x[0] = V / f(R) is the
 * bottom layer's virtual width, x[1] = R, x[128] = 0). Layer i spans heights
 * f(x[i]) .. f(x[i+1]). r[i] = x[i+1] / x[i]: a point with |u| < r[i] lies under the
 * curve for sure. fx[i] = f(x[i]) with f(t) = exp(-t*t/2). Written once by
 * qz_rng_init, read-only afterwards. */
static double qz_zig_x[QZ_ZIG_LAYERS + 1];
static double qz_zig_r[QZ_ZIG_LAYERS];
static double qz_zig_fx[QZ_ZIG_LAYERS + 1];
/* (x[i], r[i]) pairs for the vectorized rectangle test, 16-byte aligned. */
static _Alignas(16) double qz_zig_xr[2 * QZ_ZIG_LAYERS];

/* The wedge test of layer i > 0 (wedge_accepts) with its squeeze: fx1 = f(x[i+1]),
 * d = f(x[i]) - f(x[i+1]), and an approximation of exp(t) for the t = -x*x/2 of the
 * layer's wedges, exp(t) ~ ec * P(t - tc) with P the cubic Taylor polynomial of exp
 * at 0, tc the middle of the layer's t range, ec = exp(tc), c2 = ec / 2 and
 * c3 = ec / 6; m2 is twice a proven bound on |ec * P(t - tc) - exp(t)| (libm's exp
 * included). One cache line per layer. */
struct wedge {
    double x, fx1, d, tc, ec, c2, c3, m2;
};
static _Alignas(64) struct wedge qz_zig_wedge[QZ_ZIG_LAYERS];
static int qz_zig_ready;

/* The batch kernels in use: -1 until decided, then one of enum qz_kernel. */
static int qz_simd = -1;

static double qz_gauss_f(double t)
{
    return exp(-0.5 * (t * t));
}

/* The fastest kernels this CPU runs. */
static int cpu_best_kernel(void)
{
#if QZ_HAVE_AVX2
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2"))
        return QZ_KERNEL_PORTABLE;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return QZ_KERNEL_AVX512;
    return QZ_KERNEL_AVX2;
#else
    return QZ_KERNEL_PORTABLE;
#endif
}

static const char *const qz_kernel_names[] = {"portable", "avx2", "avx512"};

/* The default: the CPU's best, or QZ_DRAW_KERNEL's choice when the CPU has it. */
static int default_kernel(void)
{
    int best = cpu_best_kernel();
    const char *want = getenv("QZ_DRAW_KERNEL");
    for (int k = 0; want && k <= QZ_KERNEL_AVX512; k++)
        if (strcmp(want, qz_kernel_names[k]) == 0)
            return k < best ? k : best;
    if (want && *want)
        qz_warn("warning: QZ_DRAW_KERNEL: \"%.40s\" is not portable, avx2 or avx512; using %s",
                want, qz_kernel_names[best]);
    return best;
}

int qz_rng_set_kernel(int kernel)
{
    int best = cpu_best_kernel();
    qz_simd = kernel < 0 ? default_kernel() : kernel < best ? kernel : best;
    return qz_simd;
}

static int simd_on(void)
{
    if (qz_simd < 0)
        qz_simd = default_kernel();
    return qz_simd;
}

int qz_rng_kernel(void)
{
    return simd_on();
}

const char *qz_rng_kernel_name(void)
{
    return qz_kernel_names[simd_on()];
}

/* The squeeze of layer i's wedge test (struct wedge, wedge_accepts). A wedge point of
 * layer i has x = u * x[i] with r[i] <= |u| <= 1, so |x| lies in [x[i+1], x[i]] up to
 * a few roundings, and t = -0.5 * (x * x) in [tlo, thi] below (their relative slack
 * of 1e-12 covers those roundings many times over). With h = t - tc (rounded) we
 * have |h| <= H and exp(t) = exp(tc) exp(t - tc), and relative to exp(t):
 * - Taylor: |exp(h) - P(h)| <= H^4 / 24 * exp(H) =: rem (relative to exp(h)), P the
 *   cubic 1 + h + h^2 / 2 + h^3 / 6;
 * - rounding, each bound in units of 2^-53: ec = exp(tc) from libm (under 1 ulp:
 *   2; glibc documents about 0.51 ulp), the rounding of h (|h| < 1), c3 = ec / 6
 *   (c2 = ec / 2 is exact), the 7 operations of (ec + ec h) + h^2 (c2 + c3 h) with
 *   terms bounded by ec exp(H), exp(H) < 1.5 (under 11), and libm's own exp(t) that
 *   the exact test uses (2): under 20 * 2^-53 < 2^-47 in all.
 * So |p - exp(libm)(t)| <= M := exp(thi) * 1.01 * (rem * 1.01 + 2^-47) for the computed
 * approximation p, the factors 1.01 covering exp(t) <= exp(thi) (up to rounding), the
 * cross terms and the rounding of M's own computation. m2 = 2M: M exceeds an ulp of
 * p many times over, so fl(p - m2) <= exp(t) <= fl(p + m2), which is all
 * wedge_accepts relies on (p's own rounding, and whether it is contracted, do not
 * matter). In layer 1 (H = 0.37) the bounds are 4M / |d| = 0.9% of the test's range
 * apart, in layer 2 0.14%, above that far less. */
static void wedge_init(struct wedge *w, int i)
{
    double tlo = -0.5 * (qz_zig_x[i] * qz_zig_x[i]) * (1.0 + 1e-12);
    double thi = -0.5 * (qz_zig_x[i + 1] * qz_zig_x[i + 1]) * (1.0 - 1e-12);
    double big_h = 0.5 * (thi - tlo) * (1.0 + 1e-9);
    double h2 = big_h * big_h;
    double rem = h2 * h2 / 24.0 * exp(big_h);

    w->x = qz_zig_x[i];
    w->fx1 = qz_zig_fx[i + 1];
    w->d = qz_zig_fx[i] - qz_zig_fx[i + 1];
    w->tc = 0.5 * (tlo + thi);
    w->ec = exp(w->tc);
    w->c2 = w->ec / 2;
    w->c3 = w->ec / 6;
    w->m2 = 2.0 * (exp(thi) * 1.01 * (rem * 1.01 + 0x1p-47));
}

void qz_rng_init(void)
{
    simd_on();
    if (qz_zig_ready)
        return;
    const double v = QZ_ZIG_V;
    qz_zig_x[0] = v / qz_gauss_f(QZ_ZIG_R);
    qz_zig_x[1] = QZ_ZIG_R;
    /* Layer i-1 has area V = x[i-1] * (f(x[i]) - f(x[i-1])), solved for x[i]. */
    for (int i = 2; i < QZ_ZIG_LAYERS; i++) {
        double y = v / qz_zig_x[i - 1] + qz_gauss_f(qz_zig_x[i - 1]);
        qz_zig_x[i] = sqrt(-2.0 * log(y));
    }
    qz_zig_x[QZ_ZIG_LAYERS] = 0.0;
    for (int i = 0; i <= QZ_ZIG_LAYERS; i++)
        qz_zig_fx[i] = qz_gauss_f(qz_zig_x[i]);
    for (int i = 0; i < QZ_ZIG_LAYERS; i++)
        qz_zig_r[i] = qz_zig_x[i + 1] / qz_zig_x[i];
    for (int i = 0; i < QZ_ZIG_LAYERS; i++) {
        qz_zig_xr[2 * i] = qz_zig_x[i];
        qz_zig_xr[2 * i + 1] = qz_zig_r[i];
    }
    for (int i = 1; i < QZ_ZIG_LAYERS; i++)
        wedge_init(&qz_zig_wedge[i], i);
    qz_zig_ready = 1;
}

/* Sample `index`'s extra words in order (rng.h): word m is out[m & 1] of the block
 * at counter (index, QZ_STREAM_EXTRA, m >> 1). Block 0 comes in precomputed. */
struct extra {
    uint64_t seed, index;
    uint64_t m;      /* the next extra word's number */
    uint64_t blk[2]; /* block m >> 1 once m > 0 */
};

static uint64_t extra_next(struct extra *e)
{
    if (e->m >= 2 && (e->m & 1) == 0)
        qz_rng_block(e->seed, e->index, QZ_STREAM_EXTRA, (uint32_t)(e->m >> 1), e->blk);
    return e->blk[e->m++ & 1];
}

/* The wedge test of layer i > 0 at x = u * x[i] with the extra word v: a point uniform
 * in the part of layer i right of x[i+1] is under the curve when
 * f(x[i+1]) + U * (f(x[i]) - f(x[i+1])) < f(x), tested here as
 * U * (f(x[i]) - f(x[i+1])) < f(x) - f(x[i+1]) (no a * b + c). */
static inline int wedge_accepts(unsigned i, double x, uint64_t v)
{
    const struct wedge *w = &qz_zig_wedge[i];
    double below = qz_u01(v) * w->d;
    /* The squeeze (wedge_init): with lo <= exp(t) <= hi, fl(lo - fx1) <= the exact
     * test's right side fl(exp(t) - fx1) <= fl(hi - fx1) (rounding is monotonic),
     * which decides the test without calling exp except about once in 10^2 tests
     * in layer 1 and far less often above. */
    double t = -0.5 * (x * x), h = t - w->tc;
    double p = (w->ec + w->ec * h) + (h * h) * (w->c2 + w->c3 * h);
    int yes_lo = below < (p - w->m2) - w->fx1, yes_hi = below < (p + w->m2) - w->fx1;
    /* yes_lo implies yes_hi; they differ only between the bounds (no unpredictable
     * branch on the outcome itself) */
    if (QZ_UNLIKELY(yes_lo != yes_hi))
        return below < exp(t) - w->fx1;
    return yes_lo;
}

/* The ziggurat from a try whose word is `word` on (rng.h, qz_normal), taking further
 * words from e. Starts with the rectangle test, so from try 0 (e at extra word 0)
 * this is the whole algorithm on its own. */
static double normal_from(struct extra *e, uint64_t word)
{
    for (;;) {
        double u = 2.0 * qz_u01(word) - 1.0;
        unsigned i = (unsigned)(word & QZ_ZIG_MASK);
        if (fabs(u) < qz_zig_r[i])
            return u * qz_zig_x[i];
        if (i == 0) {
            /* The tail beyond R (Marsaglia 1964): with x = log(U1) / R <= 0 and
             * y = log(U2), accept when -2y >= x*x; R - x then has the density of the
             * normal tail beyond R. */
            for (;;) {
                double x = log(qz_u01_pos(extra_next(e))) / QZ_ZIG_R;
                double y = log(qz_u01_pos(extra_next(e)));
                if (-2.0 * y >= x * x)
                    return u < 0.0 ? x - QZ_ZIG_R : QZ_ZIG_R - x;
            }
        }
        double x = u * qz_zig_x[i];
        if (wedge_accepts(i, x, extra_next(e)))
            return x;
        word = extra_next(e);
    }
}

double qz_normal(uint64_t seed, uint64_t index)
{
    if (!qz_zig_ready)
        qz_rng_init();
    uint64_t w = qz_rng_word(seed, QZ_STREAM_VALUE, index);
    double u = 2.0 * qz_u01(w) - 1.0;
    unsigned i = (unsigned)(w & QZ_ZIG_MASK);
    if (fabs(u) < qz_zig_r[i])
        return u * qz_zig_x[i];
    struct extra e = {seed, index, 0, {0, 0}};
    qz_rng_block(seed, index, QZ_STREAM_EXTRA, 0, e.blk);
    return normal_from(&e, w);
}

/* Portable kernels. */

static void words_portable(uint64_t seed, uint32_t stream, uint64_t first, size_t n, uint64_t *out)
{
    uint64_t b[2];
    size_t k = 0;

    if (n > 0 && (first & 1)) {
        qz_rng_block(seed, first >> 1, stream, 0, b);
        out[k++] = b[1];
    }
    for (; k + 2 <= n; k += 2) {
        qz_rng_block(seed, (first + k) >> 1, stream, 0, b);
        out[k] = b[0];
        out[k + 1] = b[1];
    }
    if (k < n) {
        qz_rng_block(seed, (first + k) >> 1, stream, 0, b);
        out[k] = b[0];
    }
}

/* Extra block 0 of samples base + idx[r], r < n, into out[2r], out[2r + 1]. */
static void extra0_portable(uint64_t seed, uint64_t base, const uint32_t *idx, size_t n,
                            uint64_t *out)
{
    for (size_t r = 0; r < n; r++)
        qz_rng_block(seed, base + idx[r], QZ_STREAM_EXTRA, 0, out + 2 * r);
}

/* What qz_normal_batch_scaled stores for a deviate z: a + b * z, or z itself when
 * !on (qz_normal_batch). */
struct scale {
    int on;
    double a, b;
};

static double scaled(const struct scale *sc, double z)
{
    return sc->on ? sc->a + sc->b * z : z;
}

/* Samples first .. first+n-1 (n <= QZ_SUB) from their primary words: values to out,
 * and bit k % 64 of rej[k / 64] set for each sample k that failed the rectangle test
 * (its out[k] then still has to be computed). */
static void normal_fast_portable(const uint64_t *words, size_t n, const struct scale *sc,
                                 double *out, uint64_t *rej)
{
    for (size_t q = 0; q < (n + 63) / 64; q++)
        rej[q] = 0;
    for (size_t k = 0; k < n; k++) {
        uint64_t w = words[k];
        double u = 2.0 * qz_u01(w) - 1.0;
        unsigned i = (unsigned)(w & QZ_ZIG_MASK);
        out[k] = scaled(sc, u * qz_zig_x[i]);
        if (!(fabs(u) < qz_zig_r[i]))
            rej[k / 64] |= (uint64_t)1 << (k % 64);
    }
}

#if QZ_HAVE_AVX2

/* Philox4x32-10 on 4 + 4 blocks in the 64-bit lanes of two vector sets, A and B,
 * interleaved for instruction-level parallelism. Lanes hold a 32-bit Philox word in
 * their low half; vpmuludq reads only low halves, so the high halves may carry
 * garbage between rounds and are cleared at the end. rk holds the round keys
 * (broadcast): rk[2r] = k0 + r * W0, rk[2r + 1] = k1 + r * W1. Counter (j, c2, c3)
 * per lane with j the 64-bit block index; out0/out1 get out[0]/out[1] per lane. */
QZ_AVX2_INLINE void philox_x8(const __m256i rk[20], __m256i ja, __m256i jb, __m256i c2, __m256i c3,
                              __m256i out0[2], __m256i out1[2])
{
    const __m256i m0 = _mm256_set1_epi64x(QZ_PHILOX_M0), m1 = _mm256_set1_epi64x(QZ_PHILOX_M1);
    __m256i a0 = ja, a1 = _mm256_srli_epi64(ja, 32), a2 = c2, a3 = c3;
    __m256i b0 = jb, b1 = _mm256_srli_epi64(jb, 32), b2 = c2, b3 = c3;
#pragma GCC unroll 10
    for (int r = 0; r < 10; r++) {
        __m256i pa0 = _mm256_mul_epu32(a0, m0), pa1 = _mm256_mul_epu32(a2, m1);
        __m256i pb0 = _mm256_mul_epu32(b0, m0), pb1 = _mm256_mul_epu32(b2, m1);
        /* c1 ^ k0 and c3 ^ k1 do not wait for the products. */
        __m256i ta1 = _mm256_xor_si256(a1, rk[2 * r]), ta3 = _mm256_xor_si256(a3, rk[2 * r + 1]);
        __m256i tb1 = _mm256_xor_si256(b1, rk[2 * r]), tb3 = _mm256_xor_si256(b3, rk[2 * r + 1]);
        a0 = _mm256_xor_si256(_mm256_srli_epi64(pa1, 32), ta1);
        a1 = pa1;
        a2 = _mm256_xor_si256(_mm256_srli_epi64(pa0, 32), ta3);
        a3 = pa0;
        b0 = _mm256_xor_si256(_mm256_srli_epi64(pb1, 32), tb1);
        b1 = pb1;
        b2 = _mm256_xor_si256(_mm256_srli_epi64(pb0, 32), tb3);
        b3 = pb0;
    }
    /* out[0] = w0 | w1 << 32: the low half of c0 under the low half of c1. */
    out0[0] = _mm256_blend_epi32(a0, _mm256_slli_epi64(a1, 32), 0xAA);
    out1[0] = _mm256_blend_epi32(a2, _mm256_slli_epi64(a3, 32), 0xAA);
    out0[1] = _mm256_blend_epi32(b0, _mm256_slli_epi64(b1, 32), 0xAA);
    out1[1] = _mm256_blend_epi32(b2, _mm256_slli_epi64(b3, 32), 0xAA);
}

QZ_AVX2_INLINE void round_keys(uint64_t seed, __m256i rk[20])
{
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        rk[2 * r] = _mm256_set1_epi64x(k0);
        rk[2 * r + 1] = _mm256_set1_epi64x(k1);
        k0 += QZ_PHILOX_W0;
        k1 += QZ_PHILOX_W1;
    }
}

/* The words of 4 blocks (out0, out1 per lane) in order: block 0's two words, then
 * block 1's, ... into out[0 .. 7]. */
QZ_AVX2_INLINE void store_pairs(uint64_t *out, __m256i out0, __m256i out1)
{
    __m256i lo = _mm256_unpacklo_epi64(out0, out1), hi = _mm256_unpackhi_epi64(out0, out1);
    _mm256_storeu_si256((__m256i *)out, _mm256_permute2x128_si256(lo, hi, 0x20));
    _mm256_storeu_si256((__m256i *)(out + 4), _mm256_permute2x128_si256(lo, hi, 0x31));
}

/* Blocks of a main stream: counter (lo32(j), hi32(j), stream, 0). While hi32(j) = hi
 * stays the same, the first two rounds have constant parts: round 1's product
 * M1 * stream, so c0 and c1 after round 1, so round 2's product M0 * c0 and c3 after
 * round 2. hc holds them, combined with the round keys they meet:
 * hc[0] = c1 ^ k0 of round 2, hc[1] = hi(M0 * c0) ^ k1 of round 2, hc[2] = c3 ^ k1 of
 * round 3. Philox then costs 70 vector operations per 4 blocks instead of 80. */
struct main_key {
    __m256i rk[20];
    __m256i hc[3];
    uint64_t seed;
    uint32_t stream;
    uint32_t hi; /* hc is for this hi32(j) */
};

static QZ_AVX2 void main_key_hi(struct main_key *mk, uint32_t hi)
{
    uint32_t k0 = (uint32_t)mk->seed, k1 = (uint32_t)(mk->seed >> 32);
    uint64_t p1 = (uint64_t)QZ_PHILOX_M1 * mk->stream;
    uint32_t c0 = (uint32_t)(p1 >> 32) ^ hi ^ k0, c1 = (uint32_t)p1;
    uint64_t p0 = (uint64_t)QZ_PHILOX_M0 * c0;
    mk->hc[0] = _mm256_set1_epi64x(c1 ^ (uint32_t)(k0 + QZ_PHILOX_W0));
    mk->hc[1] = _mm256_set1_epi64x((uint32_t)(p0 >> 32) ^ (uint32_t)(k1 + QZ_PHILOX_W1));
    mk->hc[2] = _mm256_set1_epi64x((uint32_t)p0 ^ (uint32_t)(k1 + 2 * QZ_PHILOX_W1));
    mk->hi = hi;
}

static QZ_AVX2 void main_key_init(struct main_key *mk, uint64_t seed, uint32_t stream)
{
    round_keys(seed, mk->rk);
    mk->seed = seed;
    mk->stream = stream;
    main_key_hi(mk, 0);
}

/* Try 0 of the ziggurat on the 4 samples whose primary words are w[0 .. 3] (also
 * in v, whose lanes are w's words; the layers are read from w): returns
 * u * x[i] per lane and sets *rejected to a 4-bit mask of the lanes that failed the
 * rectangle test |u| < r[i]. u = 2 * qz_u01(w) - 1 is built exactly from the bits:
 * with m = w >> 11 (53 bits) and y = 1 + (m mod 2^52) 2^-52 in [1, 2) (the low 52
 * bits of m under the exponent of 1.0), u = m 2^-52 - 1 is y - 1 when bit 52 of m
 * (the top bit of w) is set and y - 2 otherwise; both subtractions are exact. The
 * (x[i], r[i]) pairs come by scalar-indexed 16-byte loads (cheaper than two gathers). */
QZ_AVX2_INLINE __m256d zig4(__m256i v, const uint64_t *w, int *rejected)
{
    const __m256i one = _mm256_set1_epi64x(0x3FF0000000000000);
    const double *xr = qz_zig_xr;
    /* bit 52 of m lands on the lowest exponent bit, which 1.0 has set already */
    __m256i m = _mm256_or_si256(_mm256_srli_epi64(v, 11), one);
    __m256d sub =
        _mm256_blendv_pd(_mm256_set1_pd(2.0), _mm256_set1_pd(1.0), _mm256_castsi256_pd(v));
    __m256d u = _mm256_sub_pd(_mm256_castsi256_pd(m), sub);
    __m256d p02 =
        _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_load_pd(xr + 2 * (w[0] & QZ_ZIG_MASK))),
                             _mm_load_pd(xr + 2 * (w[2] & QZ_ZIG_MASK)), 1);
    __m256d p13 =
        _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_load_pd(xr + 2 * (w[1] & QZ_ZIG_MASK))),
                             _mm_load_pd(xr + 2 * (w[3] & QZ_ZIG_MASK)), 1);
    __m256d x = _mm256_unpacklo_pd(p02, p13), r = _mm256_unpackhi_pd(p02, p13);
    __m256d au = _mm256_andnot_pd(_mm256_set1_pd(-0.0), u);
    *rejected = _mm256_movemask_pd(_mm256_cmp_pd(au, r, _CMP_NLT_UQ));
    return _mm256_mul_pd(u, x);
}

/* The rectangle test of words w[4v .. 4v+3] of a step (zig4), out to o, its
 * rejections into *mask. */
QZ_AVX2_INLINE void zig_part(const uint64_t *w, int v, double *o, int on, __m256d a, __m256d b,
                             uint64_t *mask)
{
    int rj;
    __m256d z = zig4(_mm256_loadu_si256((const __m256i *)(w + 4 * v)), w + 4 * v, &rj);
    if (on)
        z = _mm256_add_pd(a, _mm256_mul_pd(b, z));
    _mm256_storeu_pd(o + 4 * v, z);
    *mask |= (uint64_t)rj << (4 * v);
}

/* philox_main, with the rectangle tests of a step's words w (already stored; zig_part)
 * interleaved between its rounds when w is not NULL, so that the vector-heavy rounds
 * and the load-heavy tests share the out-of-order window. Inlined, a NULL w leaves
 * the rounds alone. */
QZ_AVX2_INLINE void philox_main_zig(const struct main_key *mk, const __m256i j[QZ_PG],
                                    __m256i out0[QZ_PG], __m256i out1[QZ_PG], const uint64_t *w,
                                    double *o, int on, __m256d a, __m256d b, uint64_t *mask)
{
    const __m256i m0 = _mm256_set1_epi64x(QZ_PHILOX_M0), m1 = _mm256_set1_epi64x(QZ_PHILOX_M1);
    const __m256i *rk = mk->rk;
    __m256i c0[QZ_PG], c1[QZ_PG], c2[QZ_PG], c3[QZ_PG];
#pragma GCC unroll 4
    for (int g = 0; g < QZ_PG; g++) {
        /* Round 1: c2 = hi(M0 * lo32(j)) ^ k1, c3 = lo(M0 * lo32(j)). */
        c3[g] = _mm256_mul_epu32(j[g], m0);
        c2[g] = _mm256_xor_si256(_mm256_srli_epi64(c3[g], 32), rk[1]);
        /* Round 2: c0 = hi(M1 * c2) ^ hc[0], c1 = lo(M1 * c2), c2 = c3 ^ hc[1]. */
        c1[g] = _mm256_mul_epu32(c2[g], m1);
        c2[g] = _mm256_xor_si256(c3[g], mk->hc[1]);
        c0[g] = _mm256_xor_si256(_mm256_srli_epi64(c1[g], 32), mk->hc[0]);
        /* Round 3: c3 (constant) ^ k1 is hc[2]. */
        __m256i p0 = _mm256_mul_epu32(c0[g], m0), p1 = _mm256_mul_epu32(c2[g], m1);
        c0[g] = _mm256_xor_si256(_mm256_srli_epi64(p1, 32), _mm256_xor_si256(c1[g], rk[4]));
        c1[g] = p1;
        c2[g] = _mm256_xor_si256(_mm256_srli_epi64(p0, 32), mk->hc[2]);
        c3[g] = p0;
    }
    if (w)
        zig_part(w, 0, o, on, a, b, mask);
#pragma GCC unroll 7
    for (int r = 3; r < 10; r++) {
#pragma GCC unroll 4
        for (int g = 0; g < QZ_PG; g++) {
            __m256i p0 = _mm256_mul_epu32(c0[g], m0), p1 = _mm256_mul_epu32(c2[g], m1);
            __m256i t1 = _mm256_xor_si256(c1[g], rk[2 * r]);
            __m256i t3 = _mm256_xor_si256(c3[g], rk[2 * r + 1]);
            c0[g] = _mm256_xor_si256(_mm256_srli_epi64(p1, 32), t1);
            c1[g] = p1;
            c2[g] = _mm256_xor_si256(_mm256_srli_epi64(p0, 32), t3);
            c3[g] = p0;
        }
        if (w)
            zig_part(w, r - 2, o, on, a, b, mask);
    }
#pragma GCC unroll 4
    for (int g = 0; g < QZ_PG; g++) {
        out0[g] = _mm256_blend_epi32(c0[g], _mm256_slli_epi64(c1[g], 32), 0xAA);
        out1[g] = _mm256_blend_epi32(c2[g], _mm256_slli_epi64(c3[g], 32), 0xAA);
    }
}

/* Philox for 4 * QZ_PG main-stream blocks j[g] + lane, g < QZ_PG, whose hi32 is
 * mk->hi in every lane; out0[g], out1[g] as in philox_x8. QZ_PG groups of 4 blocks
 * are interleaved so that the rounds' latency (a product, a shift and an exclusive
 * or per round) overlaps. */
QZ_AVX2_INLINE void philox_main(const struct main_key *mk, const __m256i j[QZ_PG],
                                __m256i out0[QZ_PG], __m256i out1[QZ_PG])
{
    philox_main_zig(mk, j, out0, out1, NULL, NULL, 0, _mm256_setzero_pd(), _mm256_setzero_pd(),
                    NULL);
}

/* The counters of main-stream blocks j .. j + 4 * QZ_PG - 1 as philox_main takes them:
 * group g's lanes hold blocks j + 4g + (0, 2, 1, 3) (see words_step_vec). */
QZ_AVX2_INLINE void main_blocks(uint64_t j, __m256i jv[QZ_PG])
{
    jv[0] = _mm256_add_epi64(_mm256_set1_epi64x((long long)j), _mm256_set_epi64x(3, 1, 2, 0));
#pragma GCC unroll 4
    for (int g = 1; g < QZ_PG; g++)
        jv[g] = _mm256_add_epi64(jv[g - 1], _mm256_set1_epi64x(4));
}

/* The 8 * QZ_PG words of main-stream blocks j .. j + 4 * QZ_PG - 1, in order, four
 * to a vector: w[v] holds words 4v .. 4v + 3. Group g's lanes hold blocks
 * j + 4g + (0, 2, 1, 3), so that unpacking each 128-bit half of out0 with out1
 * gives four consecutive words (no lane-crossing permutation). */
QZ_AVX2_INLINE void words_step_vec(struct main_key *mk, uint64_t j, __m256i w[2 * QZ_PG])
{
    __m256i jv[QZ_PG], o0[QZ_PG], o1[QZ_PG];
    main_blocks(j, jv);
    if ((uint32_t)(j >> 32) == (uint32_t)((j + 4 * QZ_PG - 1) >> 32)) {
        if ((uint32_t)(j >> 32) != mk->hi)
            main_key_hi(mk, (uint32_t)(j >> 32));
        philox_main(mk, jv, o0, o1);
    } else {
        const __m256i c2 = _mm256_set1_epi64x(mk->stream), z = _mm256_setzero_si256();
        for (int g = 0; g < QZ_PG; g += 2) {
            __m256i a0[2], a1[2];
            philox_x8(mk->rk, jv[g], g + 1 < QZ_PG ? jv[g + 1] : jv[g], c2, z, a0, a1);
            o0[g] = a0[0];
            o1[g] = a1[0];
            if (g + 1 < QZ_PG) {
                o0[g + 1] = a0[1];
                o1[g + 1] = a1[1];
            }
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < QZ_PG; g++) {
        w[2 * g] = _mm256_unpacklo_epi64(o0[g], o1[g]);
        w[2 * g + 1] = _mm256_unpackhi_epi64(o0[g], o1[g]);
    }
}

/* The 8 * QZ_PG words of main-stream blocks j .. j + 4 * QZ_PG - 1, in order, to out. */
QZ_AVX2_INLINE void words_step(struct main_key *mk, uint64_t j, uint64_t *out)
{
    __m256i w[2 * QZ_PG];
    words_step_vec(mk, j, w);
#pragma GCC unroll 8
    for (int v = 0; v < 2 * QZ_PG; v++)
        _mm256_storeu_si256((__m256i *)(out + 4 * v), w[v]);
}

/* Whole steps go straight to out; a part step at either end (first odd, or n not a
 * multiple of QZ_STEP) is drawn whole into a buffer and the part copied. */
static QZ_AVX2 void words_avx2(uint64_t seed, uint32_t stream, uint64_t first, size_t n,
                               uint64_t *out)
{
    uint64_t tmp[QZ_STEP];
    struct main_key mk;
    size_t k = 0;

    main_key_init(&mk, seed, stream);
    while (k < n) {
        uint64_t pos = first + k, start = pos & ~(uint64_t)1;
        size_t off = (size_t)(pos - start);
        if (off == 0 && n - k >= QZ_STEP) {
            words_step(&mk, start >> 1, out + k);
            k += QZ_STEP;
        } else {
            size_t m = n - k < QZ_STEP - off ? n - k : QZ_STEP - off;
            words_step(&mk, start >> 1, tmp);
            for (size_t q = 0; q < m; q++)
                out[k + q] = tmp[off + q];
            k += m;
        }
    }
}

/* Extra block 0 of samples base + idx[r], r < n, into out[2r], out[2r + 1], with the
 * round keys of mk (a struct main_key). Reads idx up to n rounded up to 8 (the
 * entries past n may hold anything) and writes out up to twice that. */
static QZ_AVX2 void extra0_avx2(const void *mk, uint64_t base, const uint32_t *idx, size_t n,
                                uint64_t *out)
{
    const __m256i *rk = ((const struct main_key *)mk)->rk;
    const __m256i c2 = _mm256_set1_epi64x(QZ_STREAM_EXTRA),
                  vbase = _mm256_set1_epi64x((long long)base);

    for (size_t r = 0; r < n; r += 8) {
        __m256i o0[2], o1[2];
        __m256i ja = _mm256_add_epi64(
            vbase, _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(idx + r))));
        __m256i jb = _mm256_add_epi64(
            vbase, _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(idx + r + 4))));
        philox_x8(rk, ja, jb, c2, _mm256_setzero_si256(), o0, o1);
        store_pairs(out + 2 * r, o0[0], o1[0]);
        store_pairs(out + 2 * r + 8, o0[1], o1[1]);
    }
}

/* As normal_fast_portable, drawing the primary words too: samples first .. first+n-1
 * with first even and n <= QZ_SUB a multiple of QZ_STEP; their words go to words. */
static QZ_AVX2 void normal_fast_avx2(struct main_key *mk, uint64_t first, size_t n,
                                     const struct scale *sc, double *out, uint64_t *words,
                                     uint64_t *rej)
{
    const int on = sc->on;
    const __m256d a = _mm256_set1_pd(sc->a), b = _mm256_set1_pd(sc->b);
    __m256i wv[2 * QZ_PG];
    for (size_t q = 0; q < (n + 63) / 64; q++)
        rej[q] = 0;
    words_step_vec(mk, first >> 1, wv);
    for (size_t k = 0; k < n; k += QZ_STEP) {
        uint64_t mask = 0; /* the step's rejections, gathered in a register */
        uint64_t jn = (first + k + QZ_STEP) >> 1;
#pragma GCC unroll 8
        for (int v = 0; v < 2 * QZ_PG; v++)
            _mm256_storeu_si256((__m256i *)(words + k + 4 * v), wv[v]);
        if (k + QZ_STEP < n && (uint32_t)(jn >> 32) == mk->hi &&
            (uint32_t)((jn + 4 * QZ_PG - 1) >> 32) == mk->hi) {
            __m256i jv[QZ_PG], o0[QZ_PG], o1[QZ_PG];
            main_blocks(jn, jv);
            philox_main_zig(mk, jv, o0, o1, words + k, out + k, on, a, b, &mask);
#pragma GCC unroll 4
            for (int g = 0; g < QZ_PG; g++) {
                wv[2 * g] = _mm256_unpacklo_epi64(o0[g], o1[g]);
                wv[2 * g + 1] = _mm256_unpackhi_epi64(o0[g], o1[g]);
            }
        } else {
#pragma GCC unroll 8
            for (int v = 0; v < 2 * QZ_PG; v++)
                zig_part(words + k, v, out + k, on, a, b, &mask);
            if (k + QZ_STEP < n)
                words_step_vec(mk, jn, wv);
        }
        rej[k / 64] |= mask << (k % 64);
    }
}

/* Try 0's wedge tests of the rejected samples idx[0 .. nr-1] (fixup_part) four at a
 * time, with the same arithmetic as the scalar loop: u and qz_u01(V) built exactly
 * from the bits as in zig4 (qz_u01(V) = y / 2 when V's top bit is set, (y - 1) / 2
 * otherwise, both exact), single IEEE operations otherwise, the squeeze's rows
 * transposed from struct wedge, and wedge_accepts itself for the rare lanes that the
 * squeeze leaves open. Writes x (scaled) to out, appends the undecided samples to
 * rest and returns their number. Reads idx up to nr rounded up to 4 and extra up to
 * twice that. */
static QZ_AVX2 size_t wedge0_avx2(const uint64_t *words, const uint32_t *idx, size_t nr,
                                  const uint64_t *extra, const struct scale *sc, double *out,
                                  uint32_t *rest)
{
    const __m256i one = _mm256_set1_epi64x(0x3FF0000000000000);
    const __m256d a = _mm256_set1_pd(sc->a), b = _mm256_set1_pd(sc->b);
    size_t nrest = 0;

    for (size_t r = 0; r < nr; r += 4) {
        uint64_t w[4];
        const struct wedge *t[4];
        unsigned zero = 0;
        for (int l = 0; l < 4; l++) {
            w[l] = words[idx[r + l]];
            t[l] = &qz_zig_wedge[w[l] & QZ_ZIG_MASK];
            zero |= (unsigned)((w[l] & QZ_ZIG_MASK) == 0) << l;
        }
        __m256i wv = _mm256_loadu_si256((const __m256i *)w);
        __m256d u = _mm256_sub_pd(
            _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(wv, 11), one)),
            _mm256_blendv_pd(_mm256_set1_pd(2.0), _mm256_set1_pd(1.0), _mm256_castsi256_pd(wv)));
        __m256d a0 = _mm256_load_pd(&t[0]->x), a1 = _mm256_load_pd(&t[1]->x),
                a2 = _mm256_load_pd(&t[2]->x), a3 = _mm256_load_pd(&t[3]->x);
        __m256d b0 = _mm256_load_pd(&t[0]->ec), b1 = _mm256_load_pd(&t[1]->ec),
                b2 = _mm256_load_pd(&t[2]->ec), b3 = _mm256_load_pd(&t[3]->ec);
        __m256d l01 = _mm256_unpacklo_pd(a0, a1), h01 = _mm256_unpackhi_pd(a0, a1);
        __m256d l23 = _mm256_unpacklo_pd(a2, a3), h23 = _mm256_unpackhi_pd(a2, a3);
        __m256d xt = _mm256_permute2f128_pd(l01, l23, 0x20),
                d = _mm256_permute2f128_pd(l01, l23, 0x31);
        __m256d fx1 = _mm256_permute2f128_pd(h01, h23, 0x20),
                tc = _mm256_permute2f128_pd(h01, h23, 0x31);
        l01 = _mm256_unpacklo_pd(b0, b1), h01 = _mm256_unpackhi_pd(b0, b1);
        l23 = _mm256_unpacklo_pd(b2, b3), h23 = _mm256_unpackhi_pd(b2, b3);
        __m256d ec = _mm256_permute2f128_pd(l01, l23, 0x20),
                c3 = _mm256_permute2f128_pd(l01, l23, 0x31);
        __m256d c2 = _mm256_permute2f128_pd(h01, h23, 0x20),
                m2 = _mm256_permute2f128_pd(h01, h23, 0x31);
        /* V of lane l is extra[2 (r + l)] */
        __m256i v = _mm256_permute4x64_epi64(
            _mm256_unpacklo_epi64(_mm256_loadu_si256((const __m256i *)(extra + 2 * r)),
                                  _mm256_loadu_si256((const __m256i *)(extra + 2 * r + 4))),
            0xD8);
        __m256d uv = _mm256_mul_pd(
            _mm256_sub_pd(
                _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(v, 11), one)),
                _mm256_blendv_pd(_mm256_set1_pd(1.0), _mm256_setzero_pd(), _mm256_castsi256_pd(v))),
            _mm256_set1_pd(0.5));
        __m256d x = _mm256_mul_pd(u, xt);
        __m256d below = _mm256_mul_pd(uv, d);
        __m256d tt = _mm256_mul_pd(_mm256_set1_pd(-0.5), _mm256_mul_pd(x, x));
        __m256d h = _mm256_sub_pd(tt, tc);
        __m256d p = _mm256_add_pd(
            _mm256_add_pd(ec, _mm256_mul_pd(ec, h)),
            _mm256_mul_pd(_mm256_mul_pd(h, h), _mm256_add_pd(c2, _mm256_mul_pd(c3, h))));
        __m256d lo = _mm256_sub_pd(_mm256_sub_pd(p, m2), fx1);
        __m256d hi = _mm256_sub_pd(_mm256_add_pd(p, m2), fx1);
        unsigned yes_lo = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(below, lo, _CMP_LT_OQ));
        unsigned yes_hi = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(below, hi, _CMP_LT_OQ));
        unsigned done = yes_lo & ~zero, open = (yes_lo ^ yes_hi) & ~zero;
        double xs[4], o[4];
        _mm256_storeu_pd(xs, x);
        if (QZ_UNLIKELY(open)) {
            uint64_t vv[4];
            _mm256_storeu_si256((__m256i *)vv, v);
            for (int l = 0; l < 4; l++)
                if (open >> l & 1)
                    done = (done & ~(1u << l)) |
                           (unsigned)wedge_accepts((unsigned)(w[l] & QZ_ZIG_MASK), xs[l], vv[l])
                               << l;
        }
        _mm256_storeu_pd(o, sc->on ? _mm256_add_pd(a, _mm256_mul_pd(b, x)) : x);
        size_t lim = nr - r < 4 ? nr - r : 4;
        for (size_t l = 0; l < lim; l++) {
            out[idx[r + l]] = o[l];
            rest[nrest] = (uint32_t)(r + l);
            nrest += !(done >> l & 1);
        }
    }
    return nrest;
}

/* The AVX-512 kernels: the AVX2 kernels' steps on 8 lanes per vector, 64 words per
 * step (QZ_PG groups of 8 blocks), the same operations in the same order per sample.
 * Philox's two exclusive ors per word become one vpternlogq; the rectangle test reads
 * x[i] and r[i] by two gathers per 8 samples. The rejected samples' passes
 * (normal_fixup) are the AVX2 ones: 2.8% of the samples. */
#define QZ_AVX512_TARGET "avx2,avx512f,avx512dq,avx512vl"
#define QZ_AVX512 __attribute__((target(QZ_AVX512_TARGET)))
#define QZ_AVX512_INLINE static inline __attribute__((target(QZ_AVX512_TARGET), always_inline))
#define QZ_STEP5 (16 * QZ_PG)

/* struct main_key on 8 lanes. */
struct main_key5 {
    __m512i rk[20];
    __m512i hc[3];
    uint64_t seed;
    uint32_t stream;
    uint32_t hi;
};

static QZ_AVX512 void main_key5_hi(struct main_key5 *mk, uint32_t hi)
{
    uint32_t k0 = (uint32_t)mk->seed, k1 = (uint32_t)(mk->seed >> 32);
    uint64_t p1 = (uint64_t)QZ_PHILOX_M1 * mk->stream;
    uint32_t c0 = (uint32_t)(p1 >> 32) ^ hi ^ k0, c1 = (uint32_t)p1;
    uint64_t p0 = (uint64_t)QZ_PHILOX_M0 * c0;
    mk->hc[0] = _mm512_set1_epi64(c1 ^ (uint32_t)(k0 + QZ_PHILOX_W0));
    mk->hc[1] = _mm512_set1_epi64((uint32_t)(p0 >> 32) ^ (uint32_t)(k1 + QZ_PHILOX_W1));
    mk->hc[2] = _mm512_set1_epi64((uint32_t)p0 ^ (uint32_t)(k1 + 2 * QZ_PHILOX_W1));
    mk->hi = hi;
}

static QZ_AVX512 void main_key5_init(struct main_key5 *mk, uint64_t seed, uint32_t stream)
{
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        mk->rk[2 * r] = _mm512_set1_epi64(k0);
        mk->rk[2 * r + 1] = _mm512_set1_epi64(k1);
        k0 += QZ_PHILOX_W0;
        k1 += QZ_PHILOX_W1;
    }
    mk->seed = seed;
    mk->stream = stream;
    main_key5_hi(mk, 0);
}

/* a ^ b ^ c in one instruction */
QZ_AVX512_INLINE __m512i xor3(__m512i a, __m512i b, __m512i c)
{
    return _mm512_ternarylogic_epi64(a, b, c, 0x96);
}

/* out[0] = w0 | w1 << 32 per lane: the low half of c0 under the low half of c1. */
QZ_AVX512_INLINE __m512i pack_words(__m512i lo, __m512i hi)
{
    return _mm512_mask_blend_epi32(0xAAAA, lo, _mm512_slli_epi64(hi, 32));
}

/* All 10 rounds for main-stream blocks j (per lane) of mk's stream, any hi32(j). */
QZ_AVX512_INLINE void philox5_full(const struct main_key5 *mk, __m512i j, __m512i *out0,
                                   __m512i *out1)
{
    const __m512i m0 = _mm512_set1_epi64(QZ_PHILOX_M0), m1 = _mm512_set1_epi64(QZ_PHILOX_M1);
    __m512i c0 = j, c1 = _mm512_srli_epi64(j, 32), c2 = _mm512_set1_epi64(mk->stream),
            c3 = _mm512_setzero_si512();
#pragma GCC unroll 10
    for (int r = 0; r < 10; r++) {
        __m512i p0 = _mm512_mul_epu32(c0, m0), p1 = _mm512_mul_epu32(c2, m1);
        c0 = xor3(_mm512_srli_epi64(p1, 32), c1, mk->rk[2 * r]);
        c1 = p1;
        c2 = xor3(_mm512_srli_epi64(p0, 32), c3, mk->rk[2 * r + 1]);
        c3 = p0;
    }
    *out0 = pack_words(c0, c1);
    *out1 = pack_words(c2, c3);
}

/* zig4 on 8 lanes: u built exactly from the bits, x[i] and r[i] gathered. */
QZ_AVX512_INLINE __m512d zig8(__m512i v, const uint64_t *w, __mmask8 *rejected)
{
    const __m512i one = _mm512_set1_epi64(0x3FF0000000000000);
    __m512i m = _mm512_or_si512(_mm512_srli_epi64(v, 11), one);
    __m512d sub =
        _mm512_mask_blend_pd(_mm512_movepi64_mask(v), _mm512_set1_pd(2.0), _mm512_set1_pd(1.0));
    __m512d u = _mm512_sub_pd(_mm512_castsi512_pd(m), sub);
    const double *xr = qz_zig_xr;
    __m128d q[8];
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++)
        q[l] = _mm_load_pd(xr + 2 * (w[l] & QZ_ZIG_MASK));
    __m512d pe = _mm512_insertf64x2(
        _mm512_insertf64x2(_mm512_insertf64x2(_mm512_castpd128_pd512(q[0]), q[2], 1), q[4], 2),
        q[6], 3);
    __m512d po = _mm512_insertf64x2(
        _mm512_insertf64x2(_mm512_insertf64x2(_mm512_castpd128_pd512(q[1]), q[3], 1), q[5], 2),
        q[7], 3);
    __m512d x = _mm512_unpacklo_pd(pe, po), r = _mm512_unpackhi_pd(pe, po);
    *rejected = _mm512_cmp_pd_mask(_mm512_abs_pd(u), r, _CMP_NLT_UQ);
    return _mm512_mul_pd(u, x);
}

/* The rectangle test of words w[8v .. 8v+7] of a step, out to o, its rejections into
 * *mask. */
QZ_AVX512_INLINE void zig_part5(const uint64_t *w, int v, double *o, int on, __m512d a, __m512d b,
                                uint64_t *mask)
{
    __mmask8 rj;
    __m512d z = zig8(_mm512_loadu_si512((const void *)(w + 8 * v)), w + 8 * v, &rj);
    if (on)
        z = _mm512_add_pd(a, _mm512_mul_pd(b, z));
    _mm512_storeu_pd(o + 8 * v, z);
    *mask |= (uint64_t)rj << (8 * v);
}

/* philox_main_zig on 8 lanes. */
QZ_AVX512_INLINE void philox5_main_zig(const struct main_key5 *mk, const __m512i j[QZ_PG],
                                       __m512i out0[QZ_PG], __m512i out1[QZ_PG], const uint64_t *w,
                                       double *o, int on, __m512d a, __m512d b, uint64_t *mask)
{
    const __m512i m0 = _mm512_set1_epi64(QZ_PHILOX_M0), m1 = _mm512_set1_epi64(QZ_PHILOX_M1);
    const __m512i *rk = mk->rk;
    __m512i c0[QZ_PG], c1[QZ_PG], c2[QZ_PG], c3[QZ_PG];
#pragma GCC unroll 4
    for (int g = 0; g < QZ_PG; g++) {
        c3[g] = _mm512_mul_epu32(j[g], m0);
        c2[g] = _mm512_xor_si512(_mm512_srli_epi64(c3[g], 32), rk[1]);
        c1[g] = _mm512_mul_epu32(c2[g], m1);
        c2[g] = _mm512_xor_si512(c3[g], mk->hc[1]);
        c0[g] = _mm512_xor_si512(_mm512_srli_epi64(c1[g], 32), mk->hc[0]);
        __m512i p0 = _mm512_mul_epu32(c0[g], m0), p1 = _mm512_mul_epu32(c2[g], m1);
        c0[g] = xor3(_mm512_srli_epi64(p1, 32), c1[g], rk[4]);
        c1[g] = p1;
        c2[g] = _mm512_xor_si512(_mm512_srli_epi64(p0, 32), mk->hc[2]);
        c3[g] = p0;
    }
    if (w)
        zig_part5(w, 0, o, on, a, b, mask);
#pragma GCC unroll 7
    for (int r = 3; r < 10; r++) {
#pragma GCC unroll 4
        for (int g = 0; g < QZ_PG; g++) {
            __m512i p0 = _mm512_mul_epu32(c0[g], m0), p1 = _mm512_mul_epu32(c2[g], m1);
            c0[g] = xor3(_mm512_srli_epi64(p1, 32), c1[g], rk[2 * r]);
            c1[g] = p1;
            c2[g] = xor3(_mm512_srli_epi64(p0, 32), c3[g], rk[2 * r + 1]);
            c3[g] = p0;
        }
        if (w)
            zig_part5(w, r - 2, o, on, a, b, mask);
    }
#pragma GCC unroll 4
    for (int g = 0; g < QZ_PG; g++) {
        out0[g] = pack_words(c0[g], c1[g]);
        out1[g] = pack_words(c2[g], c3[g]);
    }
}

/* The counters of blocks j .. j + 8 * QZ_PG - 1: group g's lanes hold blocks
 * j + 8g + (0, 4, 1, 5, 2, 6, 3, 7), so that unpacking each 128-bit quarter of out0
 * with out1 gives eight consecutive words (blocks 8g .. 8g+3 from the low halves,
 * 8g+4 .. 8g+7 from the high halves). */
QZ_AVX512_INLINE void main_blocks5(uint64_t j, __m512i jv[QZ_PG])
{
    jv[0] =
        _mm512_add_epi64(_mm512_set1_epi64((long long)j), _mm512_set_epi64(7, 3, 6, 2, 5, 1, 4, 0));
#pragma GCC unroll 4
    for (int g = 1; g < QZ_PG; g++)
        jv[g] = _mm512_add_epi64(jv[g - 1], _mm512_set1_epi64(8));
}

QZ_AVX512_INLINE void unpack_words5(const __m512i o0[QZ_PG], const __m512i o1[QZ_PG],
                                    __m512i w[2 * QZ_PG])
{
#pragma GCC unroll 4
    for (int g = 0; g < QZ_PG; g++) {
        w[2 * g] = _mm512_unpacklo_epi64(o0[g], o1[g]);
        w[2 * g + 1] = _mm512_unpackhi_epi64(o0[g], o1[g]);
    }
}

/* The 16 * QZ_PG words of main-stream blocks j .. j + 8 * QZ_PG - 1, in order, eight
 * to a vector. */
QZ_AVX512_INLINE void words_step_vec5(struct main_key5 *mk, uint64_t j, __m512i w[2 * QZ_PG])
{
    __m512i jv[QZ_PG], o0[QZ_PG], o1[QZ_PG];
    main_blocks5(j, jv);
    if ((uint32_t)(j >> 32) == (uint32_t)((j + 8 * QZ_PG - 1) >> 32)) {
        if ((uint32_t)(j >> 32) != mk->hi)
            main_key5_hi(mk, (uint32_t)(j >> 32));
        philox5_main_zig(mk, jv, o0, o1, NULL, NULL, 0, _mm512_setzero_pd(), _mm512_setzero_pd(),
                         NULL);
    } else {
        for (int g = 0; g < QZ_PG; g++)
            philox5_full(mk, jv[g], &o0[g], &o1[g]);
    }
    unpack_words5(o0, o1, w);
}

QZ_AVX512_INLINE void words_step5(struct main_key5 *mk, uint64_t j, uint64_t *out)
{
    __m512i w[2 * QZ_PG];
    words_step_vec5(mk, j, w);
#pragma GCC unroll 8
    for (int v = 0; v < 2 * QZ_PG; v++)
        _mm512_storeu_si512((void *)(out + 8 * v), w[v]);
}

/* As words_avx2, 64 words a step. */
static QZ_AVX512 void words_avx512(uint64_t seed, uint32_t stream, uint64_t first, size_t n,
                                   uint64_t *out)
{
    uint64_t tmp[QZ_STEP5];
    struct main_key5 mk;
    size_t k = 0;

    main_key5_init(&mk, seed, stream);
    while (k < n) {
        uint64_t pos = first + k, start = pos & ~(uint64_t)1;
        size_t off = (size_t)(pos - start);
        if (off == 0 && n - k >= QZ_STEP5) {
            words_step5(&mk, start >> 1, out + k);
            k += QZ_STEP5;
        } else {
            size_t m = n - k < QZ_STEP5 - off ? n - k : QZ_STEP5 - off;
            words_step5(&mk, start >> 1, tmp);
            for (size_t q = 0; q < m; q++)
                out[k + q] = tmp[off + q];
            k += m;
        }
    }
}

/* As normal_fast_avx2 with n a multiple of QZ_STEP5: a step's 64 rejection bits are
 * one word of rej. */
static QZ_AVX512 void normal_fast_avx512(struct main_key5 *mk, uint64_t first, size_t n,
                                         const struct scale *sc, double *out, uint64_t *words,
                                         uint64_t *rej)
{
    const int on = sc->on;
    const __m512d a = _mm512_set1_pd(sc->a), b = _mm512_set1_pd(sc->b);
    __m512i wv[2 * QZ_PG];
    words_step_vec5(mk, first >> 1, wv);
    for (size_t k = 0; k < n; k += QZ_STEP5) {
        uint64_t mask = 0;
        uint64_t jn = (first + k + QZ_STEP5) >> 1;
#pragma GCC unroll 8
        for (int v = 0; v < 2 * QZ_PG; v++)
            _mm512_storeu_si512((void *)(words + k + 8 * v), wv[v]);
        if (k + QZ_STEP5 < n && (uint32_t)(jn >> 32) == mk->hi &&
            (uint32_t)((jn + 8 * QZ_PG - 1) >> 32) == mk->hi) {
            __m512i jv[QZ_PG], o0[QZ_PG], o1[QZ_PG];
            main_blocks5(jn, jv);
            philox5_main_zig(mk, jv, o0, o1, words + k, out + k, on, a, b, &mask);
            unpack_words5(o0, o1, wv);
        } else {
#pragma GCC unroll 8
            for (int v = 0; v < 2 * QZ_PG; v++)
                zig_part5(words + k, v, out + k, on, a, b, &mask);
            if (k + QZ_STEP5 < n)
                words_step_vec5(mk, jn, wv);
        }
        rej[k / 64] = mask;
    }
}

#endif /* QZ_HAVE_AVX2 */

void qz_rng_words(uint64_t seed, uint32_t stream, uint64_t first, size_t n, uint64_t *out)
{
#if QZ_HAVE_AVX2
    switch (simd_on()) {
    case QZ_KERNEL_AVX512:
        words_avx512(seed, stream, first, n, out);
        return;
    case QZ_KERNEL_AVX2:
        words_avx2(seed, stream, first, n, out);
        return;
    }
#endif
    words_portable(seed, stream, first, n, out);
}

/* The steps of normal_fixup for the nr <= QZ_FIX rejected samples idx[0 .. nr-1] of a
 * pass (idx readable up to nr rounded up to 8). */
static void fixup_part(uint64_t seed, uint64_t first, const struct scale *sc, double *out,
                       const uint64_t *words, const uint32_t *idx, size_t nr, const void *avx2_key)
{
    uint64_t extra[2 * QZ_FIX];
    uint32_t rest[QZ_FIX];
    size_t nrest = 0;

#if QZ_HAVE_AVX2
    if (avx2_key)
        extra0_avx2(avx2_key, first, idx, nr, extra);
    else
#endif
        extra0_portable(seed, first, idx, nr, extra);
#if QZ_HAVE_AVX2
    if (avx2_key)
        nrest = wedge0_avx2(words, idx, nr, extra, sc, out, rest);
    else
#endif
        for (size_t r = 0; r < nr; r++) {
            uint64_t w = words[idx[r]];
            double u = 2.0 * qz_u01(w) - 1.0;
            unsigned i = (unsigned)(w & QZ_ZIG_MASK);
            double x = u * qz_zig_x[i];
            int done = i != 0 && wedge_accepts(i, x, extra[2 * r]);
            out[idx[r]] = scaled(sc, x);
            rest[nrest] = (uint32_t)r;
            nrest += !done;
        }
    /* Try 1's rectangle test for the wedge rejects (word: extra word 1), again without
     * a branch on its outcome; the tail samples (layer 0) and the few that fail stay
     * in rest, compacted in place. */
    size_t nlast = 0;
    for (size_t q = 0; q < nrest; q++) {
        size_t r = rest[q], k = idx[r];
        uint64_t w = extra[2 * r + 1];
        double u = 2.0 * qz_u01(w) - 1.0;
        unsigned i = (unsigned)(w & QZ_ZIG_MASK);
        int done = ((words[k] & QZ_ZIG_MASK) != 0) & (fabs(u) < qz_zig_r[i]);
        out[k] = scaled(sc, u * qz_zig_x[i]);
        rest[nlast] = (uint32_t)r;
        nlast += !done;
    }
    for (size_t q = 0; q < nlast; q++) {
        size_t r = rest[q], k = idx[r];
        uint64_t w = words[k];
        struct extra e = {seed, first + k, 0, {extra[2 * r], extra[2 * r + 1]}};
        if ((w & QZ_ZIG_MASK) != 0) {
            /* try 0's wedge rejected: try 1 takes extra word 1 */
            e.m = 2;
            w = e.blk[1];
        }
        out[k] = scaled(sc, normal_from(&e, w));
    }
}

/* The samples of a pass that the fast pass did not accept (bits of rej): their extra
 * blocks 0 drawn in one batch, then the wedge tests of try 0, then the rectangle
 * tests of try 1 for the wedge rejects, each a pass over the samples still undecided
 * with no unpredictable branch, then normal_from for the few left (the tail, and
 * try 1's rectangle rejects). Same steps, in the same order per sample, as
 * qz_normal. */
static QZ_NOINLINE void normal_fixup(uint64_t seed, uint64_t first, size_t n,
                                     const struct scale *sc, double *out, const uint64_t *words,
                                     const uint64_t *rej, const void *avx2_key)
{
    uint32_t idx[QZ_SUB + 4];
    size_t nr = 0;

    /* The rejected samples' indices in order: the first 4 bits of a mask word without
     * a branch (a word has about 1.8 on average; an entry past the last is
     * overwritten or ignored), the rest, if any, by a loop. */
    for (size_t q = 0; q < (n + 63) / 64; q++) {
        uint64_t bits = rej[q];
        uint32_t base = (uint32_t)(q * 64);
#if defined(__GNUC__)
#pragma GCC unroll 4
#endif
        for (int s = 0; s < 4; s++) {
            idx[nr] = base + (uint32_t)QZ_CTZ64(bits | (uint64_t)1 << 63);
            nr += bits != 0;
            bits &= bits - 1;
        }
        for (; bits; bits &= bits - 1)
            idx[nr++] = base + (uint32_t)QZ_CTZ64(bits);
    }
    for (size_t r = nr; r % 8 != 0; r++)
        idx[r] = 0; /* extra0_avx2 draws whole groups of 8 */
    for (size_t r = 0; r < nr; r += QZ_FIX)
        fixup_part(seed, first, sc, out, words, idx + r, nr - r < QZ_FIX ? nr - r : QZ_FIX,
                   avx2_key);
}

static void normal_batch_portable(uint64_t seed, uint64_t first, size_t n, const struct scale *sc,
                                  double *out)
{
    uint64_t words[QZ_SUB], rej[QZ_SUB / 64];

    for (size_t k = 0; k < n; k += QZ_SUB) {
        size_t m = n - k < QZ_SUB ? n - k : QZ_SUB;
        words_portable(seed, QZ_STREAM_VALUE, first + k, m, words);
        normal_fast_portable(words, m, sc, out + k, rej);
        normal_fixup(seed, first + k, m, sc, out + k, words, rej, NULL);
    }
}

#if QZ_HAVE_AVX2
/* As words_avx2: passes of up to QZ_SUB samples straight to out, a part step at either
 * end drawn whole into a buffer. */
static QZ_AVX2 void normal_batch_avx2(uint64_t seed, uint64_t first, size_t n,
                                      const struct scale *sc, double *out)
{
    uint64_t words[QZ_SUB], rej[QZ_SUB / 64];
    double tmp[QZ_STEP];
    struct main_key mk;
    size_t k = 0;

    main_key_init(&mk, seed, QZ_STREAM_VALUE);
    while (k < n) {
        uint64_t pos = first + k, start = pos & ~(uint64_t)1;
        size_t off = (size_t)(pos - start);
        if (off == 0 && n - k >= QZ_STEP) {
            size_t m = n - k < QZ_SUB ? (n - k) / QZ_STEP * QZ_STEP : QZ_SUB;
            normal_fast_avx2(&mk, start, m, sc, out + k, words, rej);
            normal_fixup(seed, start, m, sc, out + k, words, rej, &mk);
            k += m;
        } else {
            size_t m = n - k < QZ_STEP - off ? n - k : QZ_STEP - off;
            normal_fast_avx2(&mk, start, QZ_STEP, sc, tmp, words, rej);
            normal_fixup(seed, start, QZ_STEP, sc, tmp, words, rej, &mk);
            for (size_t q = 0; q < m; q++)
                out[k + q] = tmp[off + q];
            k += m;
        }
    }
}
#endif

#if QZ_HAVE_AVX2
/* As normal_batch_avx2, 64 samples a step; the rejected samples take the AVX2 passes. */
static QZ_AVX512 void normal_batch_avx512(uint64_t seed, uint64_t first, size_t n,
                                          const struct scale *sc, double *out)
{
    uint64_t words[QZ_SUB], rej[QZ_SUB / 64];
    double tmp[QZ_STEP5];
    struct main_key5 mk5;
    struct main_key mk;
    size_t k = 0;

    main_key5_init(&mk5, seed, QZ_STREAM_VALUE);
    main_key_init(&mk, seed, QZ_STREAM_VALUE);
    while (k < n) {
        uint64_t pos = first + k, start = pos & ~(uint64_t)1;
        size_t off = (size_t)(pos - start);
        if (off == 0 && n - k >= QZ_STEP5) {
            size_t m = n - k < QZ_SUB ? (n - k) / QZ_STEP5 * QZ_STEP5 : QZ_SUB;
            normal_fast_avx512(&mk5, start, m, sc, out + k, words, rej);
            normal_fixup(seed, start, m, sc, out + k, words, rej, &mk);
            k += m;
        } else {
            size_t m = n - k < QZ_STEP5 - off ? n - k : QZ_STEP5 - off;
            normal_fast_avx512(&mk5, start, QZ_STEP5, sc, tmp, words, rej);
            normal_fixup(seed, start, QZ_STEP5, sc, tmp, words, rej, &mk);
            for (size_t q = 0; q < m; q++)
                out[k + q] = tmp[off + q];
            k += m;
        }
    }
}
#endif

static void normal_batch(uint64_t seed, uint64_t first, size_t n, const struct scale *sc,
                         double *out)
{
    if (!qz_zig_ready)
        qz_rng_init();
#if QZ_HAVE_AVX2
    switch (simd_on()) {
    case QZ_KERNEL_AVX512:
        normal_batch_avx512(seed, first, n, sc, out);
        return;
    case QZ_KERNEL_AVX2:
        normal_batch_avx2(seed, first, n, sc, out);
        return;
    }
#endif
    normal_batch_portable(seed, first, n, sc, out);
}

void qz_normal_batch(uint64_t seed, uint64_t first, size_t n, double *out)
{
    const struct scale sc = {0, 0.0, 1.0};
    normal_batch(seed, first, n, &sc, out);
}

void qz_normal_batch_scaled(uint64_t seed, uint64_t first, size_t n, double mean, double stddev,
                            double *out)
{
    const struct scale sc = {1, mean, stddev};
    normal_batch(seed, first, n, &sc, out);
}
