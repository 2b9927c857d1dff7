#include "exactsum.h"

#include <math.h>
#include <string.h>

_Static_assert(sizeof(struct qz_exactsum) == QZ_EXACTSUM_WORDS * sizeof(int64_t),
               "struct qz_exactsum must be int64 words without padding (MPI_SUM, checkpoints)");

#define LOW32 UINT64_C(0xffffffff)
#define TWO32 (INT64_C(1) << 32)
#define ADD_LOAD (INT64_C(1) << 21)        /* |significand| < 2^53 = 2^21 * 2^32 */
#define CARRY_BINS (QZ_EXACTSUM_BINS - 32) /* bins 0 .. CARRY_BINS-1 carry upwards */

/* Digits of the total, base 2^32, during the conversion: bin bits up to 2109, the int64
 * content of a bin up to 63 more, a sign digit and room for carries. */
#define DIGITS 72

/* The low 32 bits of x, as a value in [0, 2^32). */
static int64_t low32(int64_t x)
{
    return (int64_t)((uint64_t)x & LOW32);
}

/* x = hi * 2^32 + low32(x), hi rounded towards -inf: exact, unlike >> which is
 * implementation-defined for negative x. */
static int64_t high32(int64_t x)
{
    return (x - low32(x)) / TWO32;
}

void qz_exactsum_init(struct qz_exactsum *s)
{
    memset(s, 0, sizeof *s);
}

void qz_exactsum_normalize(struct qz_exactsum *s)
{
    for (int b = 0; b < CARRY_BINS; b++) {
        int64_t carry = high32(s->bin[b]);
        s->bin[b] -= carry * TWO32;
        s->bin[b + 32] += carry;
    }
    s->load = 1;
}

void qz_exactsum_add(struct qz_exactsum *s, double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff);
    int64_t m = (int64_t)(bits & ((UINT64_C(1) << 52) - 1));
    int negative = (int)(bits >> 63);

    s->count++;
    if (e == 0x7ff) {
        if (m != 0)
            s->nan++;
        else if (negative)
            s->neg_inf++;
        else
            s->pos_inf++;
        return;
    }
    if (s->load > QZ_EXACTSUM_LOAD_MAX - ADD_LOAD)
        qz_exactsum_normalize(s);
    if (e > 0)
        m |= INT64_C(1) << 52;
    /* value = m * 2^(max(e, 1) - 1075) and bin b weighs 2^(b - 1074) */
    s->bin[e > 0 ? e - 1 : 0] += negative ? -m : m;
    s->load += ADD_LOAD;
}

/* Normalise bins lo .. hi and carry on upwards while carries arrive: when every bin
 * outside lo .. hi is already in [0, 2^32), afterwards all carrying bins are. Once 32
 * bins in a row above hi carried nothing, the bins above them received nothing. */
static void normalize_range(struct qz_exactsum *s, int lo, int hi)
{
    for (int b = lo, quiet = 0; b < CARRY_BINS && (b <= hi || quiet < 32); b++) {
        int64_t carry = high32(s->bin[b]);
        s->bin[b] -= carry * TWO32;
        s->bin[b + 32] += carry;
        quiet = carry ? 0 : quiet + 1;
    }
    s->load = 1;
}

/* qz_exactsum_add_many adds most values into a window of WINDOW bins around the first
 * value's, in LANES interleaved copies so that successive adds to one bin do not wait
 * for each other; each copy's bin takes fewer adds than the load allows between
 * normalisations, and the window is added to the accumulator before a normalisation. */
#define LANES 4
#define WINDOW 64

void qz_exactsum_add_many(struct qz_exactsum *s, const double *x, size_t n)
{
    int64_t win[LANES][WINDOW];
    int lo = QZ_EXACTSUM_BINS, hi = -1; /* bins touched since the last normalisation */
    size_t i = 0;

    if (s->load > 1)
        qz_exactsum_normalize(s); /* from here on only the bins lo .. hi grow */
    memset(win, 0, sizeof win);
    while (i < n) {
        int64_t room = (QZ_EXACTSUM_LOAD_MAX - s->load) / ADD_LOAD, added = 0;
        size_t end;
        uint64_t bits;
        int base, wlo = WINDOW, whi = -1;

        if (room <= 0) {
            normalize_range(s, lo, hi);
            lo = QZ_EXACTSUM_BINS;
            hi = -1;
            continue;
        }
        end = n - i < (size_t)room ? n : i + (size_t)room;
        memcpy(&bits, &x[i], sizeof bits);
        base = (int)((bits >> 52) & 0x7ff) - WINDOW / 2;
        base = base < 0 ? 0 : base;
        for (; i < end; i++) {
            int e, b;
            unsigned off;
            int64_t m;
            memcpy(&bits, &x[i], sizeof bits);
            e = (int)((bits >> 52) & 0x7ff);
            if (e == 0x7ff) {
                qz_exactsum_add(s, x[i]); /* counted apart; touches no bin */
                continue;
            }
            b = e > 0 ? e - 1 : 0;
            m = (int64_t)(bits & ((UINT64_C(1) << 52) - 1)) | (e > 0 ? INT64_C(1) << 52 : 0);
            m = bits >> 63 ? -m : m;
            added++;
            off = (unsigned)(b - base);
            if (off < WINDOW) {
                win[i % LANES][off] += m;
                wlo = (int)off < wlo ? (int)off : wlo;
                whi = (int)off > whi ? (int)off : whi;
            } else {
                s->bin[b] += m;
                lo = b < lo ? b : lo;
                hi = b > hi ? b : hi;
            }
        }
        for (int o = wlo; o <= whi; o++)
            for (int k = 0; k < LANES; k++) {
                s->bin[base + o] += win[k][o];
                win[k][o] = 0;
            }
        if (whi >= 0) {
            lo = base + wlo < lo ? base + wlo : lo;
            hi = base + whi > hi ? base + whi : hi;
        }
        s->load += added * ADD_LOAD;
        s->count += added;
    }
    if (hi >= 0)
        normalize_range(s, lo, hi); /* leave it normalised: the next run starts at once */
}

void qz_exactsum_merge(struct qz_exactsum *dst, const struct qz_exactsum *src)
{
    if (dst->load + src->load > QZ_EXACTSUM_LOAD_MAX) {
        qz_exactsum_normalize(dst);
        if (1 + src->load > QZ_EXACTSUM_LOAD_MAX) {
            struct qz_exactsum tmp = *src;
            qz_exactsum_normalize(&tmp);
            qz_exactsum_merge(dst, &tmp);
            return;
        }
    }
    for (int b = 0; b < QZ_EXACTSUM_BINS; b++)
        dst->bin[b] += src->bin[b];
    dst->load += src->load;
    dst->count += src->count;
    dst->nan += src->nan;
    dst->pos_inf += src->pos_inf;
    dst->neg_inf += src->neg_inf;
}

/* d += v * 2^bit, split into pieces of magnitude below 2^32 so no digit overflows. */
static void add_at(int64_t *d, int64_t v, int bit)
{
    int j = bit / 32, sh = bit % 32;
    uint64_t lo = (uint64_t)low32(v) << sh;      /* < 2^63 */
    int64_t hi = high32(v) * ((int64_t)1 << sh); /* |hi| <= 2^62 */

    d[j] += (int64_t)(lo & LOW32);
    d[j + 1] += (int64_t)(lo >> 32);
    d[j + 1] += low32(hi);
    d[j + 2] += high32(hi);
}

/* Bring digits 0 .. DIGITS-2 into [0, 2^32); the last keeps the sign. */
static void propagate(int64_t *d)
{
    for (int j = 0; j + 1 < DIGITS; j++) {
        int64_t carry = high32(d[j]);
        d[j] -= carry * TWO32;
        d[j + 1] += carry;
    }
}

/* The 64 bits of the non-negative number d starting at bit `low`. */
static uint64_t bits_from(const int64_t *d, int low)
{
    int j = low / 32, sh = low % 32;
    uint64_t r = 0;
    for (int k = 0; k < 3 && j + k < DIGITS; k++) {
        int up = 32 * k - sh; /* where digit j+k's bit 0 lands */
        if (up >= 64)
            continue;
        if (up >= 0)
            r |= (uint64_t)d[j + k] << up;
        else
            r |= (uint64_t)d[j + k] >> -up;
    }
    return r;
}

double qz_exactsum_value(const struct qz_exactsum *s)
{
    if (s->nan > 0 || (s->pos_inf > 0 && s->neg_inf > 0))
        return NAN;
    if (s->pos_inf > 0)
        return INFINITY;
    if (s->neg_inf > 0)
        return -INFINITY;

    int64_t d[DIGITS] = {0};
    for (int b = 0; b < QZ_EXACTSUM_BINS; b++)
        if (s->bin[b] != 0)
            add_at(d, s->bin[b], b);
    propagate(d);
    int negative = d[DIGITS - 1] < 0;
    if (negative) {
        for (int j = 0; j < DIGITS; j++)
            d[j] = -d[j];
        propagate(d);
    }

    int top = DIGITS - 1;
    while (top >= 0 && d[top] == 0)
        top--;
    if (top < 0)
        return 0.0;
    int h = 32 * top; /* the highest set bit of the total, in units of 2^-1074 */
    for (int64_t t = d[top]; t > 1; t >>= 1)
        h++;

    /* Keep the top 64 bits and fold every bit below them into the lowest (sticky):
     * (double)uint64 then rounds to 53 bits exactly as the whole number would round.
     * ldexp is exact: a total below 2^64 units is converted whole (a subnormal result
     * is an integer below 2^52 units, exact), and anything larger is normal or
     * overflows to infinity, which is the correctly rounded result. */
    int low = h >= 64 ? h - 63 : 0;
    uint64_t mant = bits_from(d, low);
    int sticky = 0;
    for (int j = 0; j < low / 32 && !sticky; j++)
        sticky = d[j] != 0;
    if (!sticky && low % 32 != 0)
        sticky = (d[low / 32] & ((INT64_C(1) << (low % 32)) - 1)) != 0;
    mant |= (uint64_t)sticky;

    double r = ldexp((double)mant, low - 1074);
    return negative ? -r : r;
}
