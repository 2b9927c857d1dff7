/* Reference-answer scorers for text samples (README "Reference answers"): exact_match,
 * contains and regex_match. Each scores 1 or 0 against the spec's "reference" (a string
 * or a list of strings: any one that matches gives 1).
 *
 * The answer of a sample is its text, or with "extract" the first capture group of the
 * LAST match of that POSIX extended regex in the text (no match: the sample scores 0, a
 * wrong answer, not an invalid one). The answer and the references of exact_match and
 * contains are then normalised: "case": "insensitive" turns the capitals of ASCII,
 * Latin-1, Greek and Cyrillic into their small letters (fold2; other characters are
 * compared as they are); "whitespace": "collapse" (the default) trims
 * ASCII white space at both ends and turns every run of it into one space. regex_match
 * reads each reference as a POSIX extended regex searched anywhere in the normalised
 * answer ("case": "insensitive" compiles it with REG_ICASE, which in the C locale
 * folds ASCII only). Texts are read by length:
 * NUL bytes are characters like any other. A failed sample scores NaN. */
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scorer.h"
#include "utf8.h"

#define QZ_MATCH_REFS_MAX 1000
#define QZ_MATCH_REF_BYTES 65536

enum match_mode { MATCH_EXACT, MATCH_CONTAINS, MATCH_REGEX };

static const char *const match_fields[] = {"kind",       "reference", "case",
                                           "whitespace", "extract",   NULL};
#define MATCH_CASE_DEFAULT "sensitive"
#define MATCH_SPACE_DEFAULT "collapse"
static const char *const case_choices[] = {MATCH_CASE_DEFAULT, "insensitive", NULL};
static const char *const space_choices[] = {MATCH_SPACE_DEFAULT, "exact", NULL};

/* The job hash's view of a matching scorer: its defaults written out. */
static const struct qz_spec_field match_canonical[] = {
    {"case", QZ_SPEC_STRING, 0, MATCH_CASE_DEFAULT, NULL},
    {"whitespace", QZ_SPEC_STRING, 0, MATCH_SPACE_DEFAULT, NULL},
    {NULL, QZ_SPEC_NEUTRAL, 0, NULL, NULL},
};

struct qz_scorer {
    enum match_mode mode;
    int icase, collapse;
    int has_extract;
    regex_t extract;
    size_t nref;
    char **ref; /* normalised references (exact_match, contains) */
    size_t *ref_len;
    regex_t *re; /* compiled references (regex_match); nre of them are live */
    size_t nre;
    char *buf; /* the text and the normalised answer, each NUL-terminated */
    size_t buf_size;
};

static void match_close(struct qz_scorer *s)
{
    if (!s)
        return;
    if (s->has_extract)
        regfree(&s->extract);
    for (size_t i = 0; i < s->nre; i++)
        regfree(&s->re[i]);
    for (size_t i = 0; s->ref && i < s->nref; i++)
        free(s->ref[i]);
    free(s->re);
    free(s->ref);
    free(s->ref_len);
    free(s->buf);
    free(s);
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* The two-byte UTF-8 capital a b in place as its small letter: Latin-1 (U+00C0-U+00DE
 * but U+00D7), Greek (U+0391-U+03A9) and Cyrillic (U+0400-U+042F), the same length in
 * UTF-8. 0 when a b is no such capital. */
static int fold2(unsigned char *a, unsigned char *b)
{
    if (*a == 0xC3 && *b >= 0x80 && *b <= 0x9E && *b != 0x97)
        *b += 0x20;
    else if (*a == 0xCE && *b >= 0x91 && *b <= 0x9F)
        *b += 0x20;
    else if (*a == 0xCE && *b >= 0xA0 && *b <= 0xA9 && *b != 0xA2)
        *a = 0xCF, *b -= 0x20;
    else if (*a == 0xD0 && *b >= 0x90 && *b <= 0x9F)
        *b += 0x20;
    else if (*a == 0xD0 && *b >= 0xA0 && *b <= 0xAF)
        *a = 0xD1, *b -= 0x20;
    else if (*a == 0xD0 && *b >= 0x80 && *b <= 0x8F)
        *a = 0xD1, *b += 0x10;
    else
        return 0;
    return 1;
}

/* Normalise t[0..len) into out (room for len bytes); returns the length written. */
static size_t normalise(int icase, int collapse, const char *t, size_t len, char *out)
{
    size_t n = 0;
    int pending = 0; /* a run of white space was seen after some text */

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i], c2;
        if (collapse && is_space(c)) {
            pending = n > 0;
            continue;
        }
        if (pending)
            out[n++] = ' ';
        pending = 0;
        if (icase && i + 1 < len && ((c2 = (unsigned char)t[i + 1]) & 0xC0) == 0x80 &&
            fold2(&c, &c2)) {
            out[n++] = (char)c;
            out[n++] = (char)c2;
            i++;
            continue;
        }
        out[n++] = (char)(icase && c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    return n;
}

/* regexec over t[0..len) from offset `from`, NUL bytes included (glibc's REG_STARTEND). */
static int search(const regex_t *re, const char *t, size_t from, size_t len, size_t nm,
                  regmatch_t *m)
{
    m[0].rm_so = (regoff_t)from;
    m[0].rm_eo = (regoff_t)len;
    return regexec(re, t, nm, m, REG_STARTEND | (from > 0 ? REG_NOTBOL : 0)) == 0;
}

static enum qz_status add_reference(struct qz_scorer *s, const struct qz_jv *at, const cJSON *item,
                                    int index, struct qz_error *err)
{
    struct qz_jv rat;
    const char *v;
    size_t len;

    if (index >= 0)
        qz_jv_item(at, index, &rat);
    else
        rat = *at;
    if (!cJSON_IsString(item))
        return qz_jv_fail(&rat, NULL, item, err, "must be a string");
    v = item->valuestring;
    len = strlen(v);
    if (len > QZ_MATCH_REF_BYTES)
        return qz_jv_fail(&rat, NULL, NULL, err, "is longer than %d bytes", QZ_MATCH_REF_BYTES);
    if (!qz_utf8_valid(v, len))
        return qz_jv_fail(&rat, NULL, NULL, err, "is not valid UTF-8 once its escapes are decoded");
    if (s->mode == MATCH_REGEX) {
        int code;
        if (!len)
            return qz_jv_fail(&rat, NULL, item, err, "must not be empty (it would match any text)");
        code = regcomp(&s->re[s->nre], v, REG_EXTENDED | REG_NOSUB | (s->icase ? REG_ICASE : 0));
        if (code) {
            char why[200];
            regerror(code, &s->re[s->nre], why, sizeof why);
            return qz_jv_fail(&rat, NULL, item, err,
                              "is not a valid POSIX extended regular expression (%s)", why);
        }
        s->nre++;
        return QZ_OK;
    }
    if (!(s->ref[s->nref] = malloc(len + 1)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    s->ref_len[s->nref] = normalise(s->icase, s->collapse, v, len, s->ref[s->nref]);
    s->nref++;
    if (s->ref_len[s->nref - 1] == 0)
        return qz_jv_fail(&rat, NULL, item, err,
                          "must not be empty once normalised (it would match %s)",
                          s->mode == MATCH_EXACT ? "only an empty answer" : "any text");
    return QZ_OK;
}

static enum qz_status open_references(struct qz_scorer *s, const cJSON *spec,
                                      const struct qz_jv *at, struct qz_error *err)
{
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(spec, "reference"), *item;
    struct qz_jv rat;
    size_t n = 1;
    int i = 0;
    enum qz_status rc = QZ_OK;

    if (!ref)
        return qz_jv_fail(at, "reference", NULL, err,
                          "is required (a string or a list of strings), here or on every line "
                          "of the job's tasks file");
    qz_jv_child(at, "reference", &rat);
    if (cJSON_IsArray(ref)) {
        n = (size_t)cJSON_GetArraySize(ref);
        if (n < 1 || n > QZ_MATCH_REFS_MAX)
            return qz_jv_fail(at, "reference", NULL, err,
                              "a list of references must hold 1 to %d strings, got %zu",
                              QZ_MATCH_REFS_MAX, n);
    } else if (!cJSON_IsString(ref))
        return qz_jv_fail(at, "reference", ref, err, "must be a string or a list of strings");
    if (s->mode == MATCH_REGEX)
        s->re = calloc(n, sizeof *s->re);
    else {
        s->ref = calloc(n, sizeof *s->ref);
        s->ref_len = calloc(n, sizeof *s->ref_len);
    }
    if (s->mode == MATCH_REGEX ? !s->re : !s->ref || !s->ref_len)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    if (!cJSON_IsArray(ref))
        return add_reference(s, &rat, ref, -1, err);
    for (item = ref->child; item && rc == QZ_OK; item = item->next)
        rc = add_reference(s, &rat, item, i++, err);
    return rc;
}

static enum qz_status match_open(struct qz_scorer **out, const cJSON *spec, const struct qz_jv *at,
                                 enum match_mode mode, struct qz_error *err)
{
    struct qz_scorer *s;
    const char *extract;
    int icase = 0, space = 0;
    enum qz_status rc;

    *out = NULL;
    if ((rc = qz_jv_fields(at, spec, match_fields, err)) ||
        (rc = qz_jv_choice(at, spec, "case", 0, 0, case_choices, &icase, err)) ||
        (rc = qz_jv_choice(at, spec, "whitespace", 0, 0, space_choices, &space, err)) ||
        (rc = qz_jv_string(at, spec, "extract", 0, NULL, &extract, err)))
        return rc;
    if (!(s = calloc(1, sizeof *s)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    s->mode = mode;
    s->icase = icase == 1;
    s->collapse = space == 0;
    if (extract) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(spec, "extract");
        int code = regcomp(&s->extract, extract, REG_EXTENDED | (s->icase ? REG_ICASE : 0));
        if (code) {
            char why[200];
            regerror(code, &s->extract, why, sizeof why);
            match_close(s);
            return qz_jv_fail(at, "extract", item, err,
                              "is not a valid POSIX extended regular expression (%s)", why);
        }
        s->has_extract = 1;
        if (s->extract.re_nsub < 1) {
            match_close(s);
            return qz_jv_fail(at, "extract", item, err,
                              "needs a capture group ( ... ): the answer is its first group");
        }
    }
    if ((rc = open_references(s, spec, at, err))) {
        match_close(s);
        return rc;
    }
    *out = s;
    return QZ_OK;
}

/* The answer in t[0..len): the first group of the last match of extract whose group
 * took part (*found 0 when there is none), or the whole text. */
static void answer_of(const struct qz_scorer *s, const char *t, size_t len, const char **a,
                      size_t *alen, int *found)
{
    regmatch_t m[2];
    size_t at = 0;

    *a = t;
    *alen = len;
    *found = !s->has_extract;
    while (s->has_extract && at <= len && search(&s->extract, t, at, len, 2, m)) {
        if (m[1].rm_so >= 0) {
            *a = t + m[1].rm_so;
            *alen = (size_t)(m[1].rm_eo - m[1].rm_so);
            *found = 1;
        }
        at = m[0].rm_eo > m[0].rm_so ? (size_t)m[0].rm_eo : (size_t)m[0].rm_so + 1;
    }
}

static int contains(const char *hay, size_t n, const char *needle, size_t m)
{
    for (size_t i = 0; m <= n && i <= n - m; i++) {
        const char *p = memchr(hay + i, needle[0], n - m - i + 1);
        if (!p)
            return 0;
        i = (size_t)(p - hay);
        if (!memcmp(p, needle, m))
            return 1;
    }
    return 0;
}

/* 1 when the text t[0..len) matches a reference, else 0; NaN (and *rc) when out of memory.
 * The regex library reads NUL-terminated strings (even with REG_STARTEND, a sanitizer
 * checks up to the NUL): the text and the answer are copied into s->buf, each ended by
 * a NUL, and searched within their lengths. */
static double match_one(struct qz_scorer *s, const char *t, size_t len, struct qz_error *err,
                        int *rc)
{
    const char *a;
    char *raw, *norm;
    size_t alen, n;
    int found;
    regmatch_t m[1];

    if (len > (SIZE_MAX - 2) / 2 || 2 * len + 2 > s->buf_size) {
        char *grown = len > (SIZE_MAX - 2) / 2 ? NULL : realloc(s->buf, 2 * len + 2);
        if (!grown) {
            *rc = qz_error_set(err, QZ_ENOMEM, "out of memory scoring a text of %zu bytes", len);
            return NAN;
        }
        s->buf = grown;
        s->buf_size = 2 * len + 2;
    }
    raw = s->buf;
    norm = s->buf + len + 1;
    memcpy(raw, t, len);
    raw[len] = '\0';
    answer_of(s, raw, len, &a, &alen, &found);
    if (!found)
        return 0;
    /* regex_match: only white space is normalised; the regex itself folds case */
    n = normalise(s->mode == MATCH_REGEX ? 0 : s->icase, s->collapse, a, alen, norm);
    norm[n] = '\0';
    for (size_t i = 0; i < s->nre; i++)
        if (search(&s->re[i], norm, 0, n, 1, m))
            return 1;
    for (size_t i = 0; i < s->nref; i++)
        if (s->mode == MATCH_EXACT ? n == s->ref_len[i] && !memcmp(norm, s->ref[i], n)
                                   : contains(norm, n, s->ref[i], s->ref_len[i]))
            return 1;
    return 0;
}

static enum qz_status match_score(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                  struct qz_error *err)
{
    int rc = QZ_OK;
    for (size_t j = 0; j < b->n && rc == QZ_OK; j++)
        out[j] = isnan(b->value[j])
                     ? NAN
                     : match_one(s, b->text + b->text_off[j], b->text_len[j], err, &rc);
    return (enum qz_status)rc;
}

static enum qz_status exact_open(struct qz_scorer **out, const cJSON *spec, const struct qz_jv *at,
                                 struct qz_error *err)
{
    return match_open(out, spec, at, MATCH_EXACT, err);
}

static enum qz_status contains_open(struct qz_scorer **out, const cJSON *spec,
                                    const struct qz_jv *at, struct qz_error *err)
{
    return match_open(out, spec, at, MATCH_CONTAINS, err);
}

static enum qz_status regex_match_open(struct qz_scorer **out, const cJSON *spec,
                                       const struct qz_jv *at, struct qz_error *err)
{
    return match_open(out, spec, at, MATCH_REGEX, err);
}

const struct qz_scorer_ops qz_score_exact_match_ops = {
    .name = "exact_match",
    .open = exact_open,
    .score = match_score,
    .close = match_close,
    .needs_text = 1,
    .binary = 1,
    .needs_reference = 1,
    .canonical = match_canonical,
};

const struct qz_scorer_ops qz_score_contains_ops = {
    .name = "contains",
    .open = contains_open,
    .score = match_score,
    .close = match_close,
    .needs_text = 1,
    .binary = 1,
    .needs_reference = 1,
    .canonical = match_canonical,
};

const struct qz_scorer_ops qz_score_regex_match_ops = {
    .name = "regex_match",
    .open = regex_match_open,
    .score = match_score,
    .close = match_close,
    .needs_text = 1,
    .binary = 1,
    .needs_reference = 1,
    .canonical = match_canonical,
};
