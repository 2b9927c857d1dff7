/* UTF-8 repair (maximal subparts, as Python's errors="replace"), cuts at character
 * boundaries, terminal escaping, and secret scrubbing. */
#include <string.h>

#include "check.h"
#include "utf8.h"

static void repair_n(const char *in, size_t len, const char *want, size_t want_len,
                     size_t want_fixed)
{
    char out[64];
    size_t n = qz_utf8_repaired_len(in, len), fixed;

    CHECK(n < sizeof out, "repaired length %zu", n);
    fixed = qz_utf8_repair(in, len, out);
    CHECK(n == want_len && memcmp(out, want, n) == 0, "repair of %zu bytes: got %.*s, want %s", len,
          (int)n, out, want);
    CHECK(fixed == want_fixed, "replacements %zu, want %zu", fixed, want_fixed);
    CHECK(qz_utf8_valid(out, n), "the repaired text is valid");
    CHECK(qz_utf8_valid(in, len) == (want_fixed == 0), "valid iff nothing to repair");
}

static void repair_is(const char *in, size_t len, const char *want, size_t want_fixed)
{
    repair_n(in, len, want, strlen(want), want_fixed);
}

static void escape_is(const char *in, size_t len, size_t max, const char *want)
{
    char out[128];
    size_t n = qz_utf8_escape(in, len, max, out, sizeof out);
    CHECK(n == strlen(want) && strcmp(out, want) == 0, "escape: got \"%s\", want \"%s\"", out,
          want);
}

static void scrub_is(const char *in, const char *secret, const char *want)
{
    char out[128];
    size_t n = qz_scrub_secret(in, strlen(in), secret, out, sizeof out);
    CHECK(n == strlen(want) && strcmp(out, want) == 0, "scrub: got \"%s\", want \"%s\"", out, want);
}

int main(void)
{
#define R "\xEF\xBF\xBD"
    repair_is("plain", 5, "plain", 0);
    repair_n("a\0b", 3, "a\0b", 3, 0); /* NUL is a character */
    repair_is("\xC3\xA9t\xC3\xA9", 5, "\xC3\xA9t\xC3\xA9", 0);
    repair_is("\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80", 0);
    repair_is("a\xFF"
              "b",
              3, "a" R "b", 1);
    repair_is("\xC3", 1, R, 1);                   /* cut short */
    repair_is("\xE2\x82", 2, R, 1);               /* one maximal subpart */
    repair_is("\xC0\xAF", 2, R R, 2);             /* overlong: two */
    repair_is("\xED\xA0\x80", 3, R R R, 3);       /* surrogate */
    repair_is("\xF4\x90\x80\x80", 4, R R R R, 4); /* above U+10FFFF */
    repair_is("\xF0\x9F\x98"
              "x",
              4, R "x", 1);           /* truncated 4-byte */
    repair_is("\x80\x80", 2, R R, 2); /* lone continuations */
    CHECK(qz_utf8_repaired_len("\xFF\xFF", 2) == 6, "3 bytes per replacement");

    CHECK(qz_utf8_cut("ab\xC3\xA9"
                      "c",
                      5, 3) == 2,
          "never inside a character");
    CHECK(qz_utf8_cut("ab\xC3\xA9"
                      "c",
                      5, 4) == 4,
          "after it");
    CHECK(qz_utf8_cut("abc", 3, 10) == 3, "shorter than max");

    escape_is("hi\x1b[31mred", 10, 100, "hi\\x1b[31mred");
    escape_is("a\nb\tc\rd\x7f", 8, 100, "a\\nb\\tc\\rd\\x7f");
    escape_is("\xC2\x9B"
              "2J",
              4, 100, "\\u009b2J"); /* C1 CSI */
    escape_is("\xC3\xA9\xFF", 3, 100, "\xC3\xA9\\xff");
    escape_is("ab\xC3\xA9"
              "cd",
              6, 3, "ab...");
    escape_is("abc", 3, 3, "abc");
    {
        char small[8];
        size_t n = qz_utf8_escape("\x1b\x1b\x1b", 3, 100, small, sizeof small);
        CHECK(n == 7 && strcmp(small, "\\x1b...") == 0, "never half an escape: \"%s\"", small);
    }

    scrub_is("bad key sk-SECRET123 here", "sk-SECRET123", "bad key [hidden] here");
    scrub_is("{\"auth\": \"Bearer abc.def\"}", NULL, "{\"auth\": \"Bearer [hidden]\"}");
    scrub_is("authorization: bearer   tok123 end", "zzz", "authorization: bearer   [hidden] end");
    scrub_is("Bearer", NULL, "Bearer");
    {
        char out[10];
        size_t n = qz_scrub_secret("xx sk-SECRET123", 15, "sk-SECRET123", out, sizeof out);
        CHECK(n == 3 && memcmp(out, "xx ", 3) == 0, "a cut never shows part of a secret: %s", out);
    }
    /* Where the first invalid sequence starts. */
    CHECK(qz_utf8_invalid_at("abc", 3) == 3, "valid: its length");
    CHECK(qz_utf8_invalid_at("a\xc3\xa9"
                             "b\xff"
                             "c",
                             6) == 4,
          "a stray byte after a valid 2-byte one");
    CHECK(qz_utf8_invalid_at("ab\xe2\x82", 4) == 2, "a sequence cut at the end");
    CHECK(qz_utf8_invalid_at("\xed\xa0\x80", 3) == 0, "a surrogate");
    return check_done("test_utf8");
}
