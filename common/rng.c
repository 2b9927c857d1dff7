/* Standard normal deviates by a 128-layer ziggurat (Marsaglia & Tsang 2000, in the
 * ZIGNOR layout of Doornik 2005), fed by the counter-based Philox blocks of rng.h.
 *
 * Reproducibility: every quantity is plain IEEE double arithmetic. The only
 * expression of the form a * b + c is 2 * u - 1, whose product is exact, so
 * contraction into fused multiply-adds (which differs between machines) cannot
 * change a result even where the compiler is allowed to contract. The tables and
 * the wedge and tail tests use exp, log and sqrt from libm, so bit-identical values
 * also need the same libm. */
#include "rng.h"

#include <float.h>
#include <math.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "qz_normal needs FLT_EVAL_METHOD == 0 (no excess precision) to be reproducible"
#endif

#if defined(__GNUC__)
#define QZ_NOINLINE __attribute__((noinline))
#else
#define QZ_NOINLINE
#endif

#define QZ_ZIG_LAYERS 128
#define QZ_ZIG_MASK 0x7Fu
/* R: the start of the tail; V: the common area of every layer (the bottom layer's
 * area is its rectangle [0, R] x [0, f(R)] plus the tail beyond R). */
#define QZ_ZIG_R 3.442619855899
#define QZ_ZIG_V 9.91256303526217e-3

/* x[i] is the right edge of layer i (decreasing in i: x[0] = V / f(R) is the
 * bottom layer's virtual width, x[1] = R, x[128] = 0). Layer i spans heights
 * f(x[i]) .. f(x[i+1]). r[i] = x[i+1] / x[i]: a point with |u| < r[i] lies under the
 * curve for sure. fx[i] = f(x[i]) with f(t) = exp(-t*t/2). Written once by
 * qz_rng_init, read-only afterwards. */
static double qz_zig_x[QZ_ZIG_LAYERS + 1];
static double qz_zig_r[QZ_ZIG_LAYERS];
static double qz_zig_fx[QZ_ZIG_LAYERS + 1];
static int qz_zig_ready;

static double qz_gauss_f(double t)
{
    return exp(-0.5 * (t * t));
}

void qz_rng_init(void)
{
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
    qz_zig_ready = 1;
}

/* The tail beyond R (Marsaglia 1964): with x = log(U1) / R <= 0 and y = log(U2),
 * accept when -2y >= x*x; R - x then has the density of the normal tail beyond R.
 * Consumes blocks `attempt`, `attempt` + 1, ... until one is accepted. */
static double qz_normal_tail(uint64_t seed, uint64_t index, uint32_t attempt, int negative)
{
    for (;; attempt++) {
        uint64_t b[2];
        qz_rng_block(seed, index, QZ_STREAM_VALUE, attempt, b);
        double x = log(qz_u01_pos(b[0])) / QZ_ZIG_R;
        double y = log(qz_u01_pos(b[1]));
        if (-2.0 * y >= x * x)
            return negative ? x - QZ_ZIG_R : QZ_ZIG_R - x;
    }
}

/* Tries ziggurat attempts from 0 on; attempt 0's block is passed in as `first`
 * (already drawn by qz_normal, whose rectangle test it failed). Kept out of line
 * so that qz_normal's fast path stays small: the Philox latency dominates a call,
 * and a short path lets the CPU overlap consecutive calls. */
static QZ_NOINLINE double qz_normal_slow(uint64_t seed, uint64_t index, const uint64_t first[2])
{
    for (uint32_t attempt = 0;; attempt++) {
        uint64_t b[2] = {first[0], first[1]};
        if (attempt > 0)
            qz_rng_block(seed, index, QZ_STREAM_VALUE, attempt, b);
        double u = 2.0 * qz_u01(b[0]) - 1.0;
        unsigned i = (unsigned)(b[0] & QZ_ZIG_MASK);
        if (fabs(u) < qz_zig_r[i])
            return u * qz_zig_x[i];
        if (i == 0)
            return qz_normal_tail(seed, index, attempt + 1, u < 0.0);
        /* Wedge: a point uniform in the part of layer i right of x[i+1] is under
         * the curve when f(x[i+1]) + U * (f(x[i]) - f(x[i+1])) < f(x), tested here
         * as U * (f(x[i]) - f(x[i+1])) < f(x) - f(x[i+1]) (no a * b + c). */
        double x = u * qz_zig_x[i];
        double above = qz_gauss_f(x) - qz_zig_fx[i + 1];
        if (qz_u01(b[1]) * (qz_zig_fx[i] - qz_zig_fx[i + 1]) < above)
            return x;
    }
}

/* Attempt numbering: the attempt number counts the 128-bit blocks consumed for this
 * (seed, index), from 0, one block per try. Ziggurat try k uses block k: b[0] gives
 * u = 2 * qz_u01(b[0]) - 1 (top 53 bits) and the layer i = b[0] & 0x7F (low 7 bits,
 * unused by qz_u01); b[1] is the wedge's extra uniform. If try k lands in the
 * bottom layer outside its rectangle, the tail takes blocks k + 1, k + 2, ... (one
 * per tail iteration, U1 from b[0], U2 from b[1]) and the draw ends there. About
 * 97.2% of draws end at try 0 on the rectangle test below, with no libm call; a try
 * is rejected with probability 1 - sqrt(pi/2) / (128 V) = 1.2%. */
double qz_normal(uint64_t seed, uint64_t index)
{
    if (!qz_zig_ready)
        qz_rng_init();
    uint64_t b[2];
    qz_rng_block(seed, index, QZ_STREAM_VALUE, 0, b);
    double u = 2.0 * qz_u01(b[0]) - 1.0;
    unsigned i = (unsigned)(b[0] & QZ_ZIG_MASK);
    if (fabs(u) < qz_zig_r[i])
        return u * qz_zig_x[i];
    return qz_normal_slow(seed, index, b);
}
