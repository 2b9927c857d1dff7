/* The reference-answer scorers exact_match, contains and regex_match: normalisation,
 * extraction (last match wins), lists of references, UTF-8, NUL bytes, empty texts, and
 * the one-line messages of bad specs. Every expected score is reasoned out by hand. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "generator.h"
#include "jsonv.h"
#include "scorer.h"

/* The score of one text of len bytes under the spec, -1 if the spec does not open. */
static double score1(const char *json, const char *text, size_t len)
{
    struct qz_jv at = {.file = "job.json", .path = "utility"};
    struct qz_error err = {QZ_OK, ""};
    struct qz_score sc;
    struct qz_batch b;
    double out = -2;
    cJSON *spec = cJSON_Parse(json);

    if (!spec || qz_score_open(&sc, spec, &at, &err) != QZ_OK) {
        CHECK(0, "%s: does not open: %s", json, err.msg);
        cJSON_Delete(spec);
        return -1;
    }
    CHECK(sc.ops->binary && sc.range.low == 0 && sc.range.high == 1, "%s: binary [0, 1]", json);
    if (qz_batch_init(&b, 2, &err) == QZ_OK) {
        qz_batch_begin(&b, 0, 2, 1);
        qz_batch_clear_text(&b);
        b.value[0] = 0; /* sample 0 holds the text, sample 1 failed (NaN) */
        double two[2] = {-3, -3};
        if (qz_batch_put_text(&b, 0, text, len, &err) != QZ_OK ||
            sc.ops->score(sc.state, &b, two, &err) != QZ_OK)
            CHECK(0, "%s: %s", json, err.msg);
        else {
            CHECK(isnan(two[1]), "%s: a failed sample scores NaN, got %g", json, two[1]);
            out = two[0];
        }
        qz_batch_free(&b);
    }
    qz_score_close(&sc);
    cJSON_Delete(spec);
    return out;
}

#define SCORE(json, text, want)                                                                    \
    do {                                                                                           \
        double got_ = score1(json, text, strlen(text));                                            \
        CHECK(got_ == (want), "%s on \"%s\": %g, want %g", json, text, got_, (double)(want));      \
    } while (0)

static void refused(const char *json, const char *message)
{
    struct qz_jv at = {.file = "job.json", .path = "utility"};
    struct qz_error err = {QZ_OK, ""};
    struct qz_score sc;
    cJSON *spec = cJSON_Parse(json);
    enum qz_status rc = qz_score_open(&sc, spec, &at, &err);

    CHECK(rc == QZ_EJOB, "%s: status %d, want QZ_EJOB", json, rc);
    CHECK(strcmp(err.msg, message) == 0, "%s: message\n  \"%s\", want\n  \"%s\"", json, err.msg,
          message);
    CHECK(!strchr(err.msg, '\n'), "%s: one line", json);
    if (rc == QZ_OK)
        qz_score_close(&sc);
    cJSON_Delete(spec);
}

int main(void)
{
    /* exact_match: white space collapsed and trimmed by default, case kept */
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"42\"}", "42", 1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"42\"}", "  42\n", 1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"42\"}", "420", 0);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"42\"}", "4 2", 0);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"new  york\"}", "new\t\n york", 1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\" new york \"}", "new york", 1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"Paris\"}", "paris", 0);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"Paris\",\"case\":\"insensitive\"}", "PARIS",
          1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"42\",\"whitespace\":\"exact\"}", " 42", 0);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"a  b\",\"whitespace\":\"exact\"}", "a  b", 1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"a  b\",\"whitespace\":\"exact\"}", "a b", 0);
    /* the empty text: no reference may be empty, so it never matches */
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"x\"}", "", 0);
    SCORE("{\"kind\":\"contains\",\"reference\":\"x\"}", "", 0);
    SCORE("{\"kind\":\"regex_match\",\"reference\":\"^$\"}", "", 1);
    SCORE("{\"kind\":\"regex_match\",\"reference\":\"^$\"}", "  \n", 1); /* trimmed to "" */
    /* lists: any one reference */
    SCORE("{\"kind\":\"exact_match\",\"reference\":[\"cat\",\"dog\"]}", "dog", 1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":[\"cat\",\"dog\"]}", "cow", 0);
    /* UTF-8: bytes compared; case folding turns the capitals of ASCII, Latin-1, Greek
     * and Cyrillic into small letters, nothing else */
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"caf\\u00e9\"}", "caf\xc3\xa9", 1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"CAF\\u00c9\"}", "caf\xc3\xa9", 0);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"CAF\\u00c9\",\"case\":\"insensitive\"}",
          "caf\xc3\xa9", 1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"\\u00de\\u00c0\",\"case\":\"insensitive\"}",
          "\xc3\xbe\xc3\xa0", 1); /* Þ À: the ends of the Latin-1 range */
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"\\u00d7\",\"case\":\"insensitive\"}",
          "\xc3\xb7", 0); /* × is no letter: not ÷ */
    /* ΑΘΗΝΑ ΣΩ (U+0391 ... U+03A3 U+03A9) and αθηνα σω */
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"\\u0391\\u0398\\u0397\\u039d\\u0391 "
          "\\u03a3\\u03a9\",\"case\":\"insensitive\"}",
          "\xce\xb1\xce\xb8\xce\xb7\xce\xbd\xce\xb1 \xcf\x83\xcf\x89", 1);
    /* ЁЖ МЯ (U+0401 U+0416 U+041C U+042F) and ёж мя */
    SCORE("{\"kind\":\"contains\",\"reference\":\"\\u0401\\u0416 \\u041c\\u042f\","
          "\"case\":\"insensitive\"}",
          "x \xd1\x91\xd0\xb6 \xd0\xbc\xd1\x8f y", 1);
    /* small letters stay: the text's capitals fold to the reference's small letters */
    SCORE("{\"kind\":\"contains\",\"reference\":\"\\u0436\",\"case\":\"insensitive\"}", "\xd0\x96",
          1);
    SCORE("{\"kind\":\"contains\",\"reference\":\"\\u0436\"}", "\xd0\x96", 0);
    /* U+00A0 (no-break space) is not ASCII white space: kept */
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"a b\"}",
          "a\xc2\xa0"
          "b",
          0);
    /* contains: regex special characters are plain characters */
    SCORE("{\"kind\":\"contains\",\"reference\":\"a.b\"}", "xa.by", 1);
    SCORE("{\"kind\":\"contains\",\"reference\":\"a.b\"}", "xaxby", 0);
    SCORE("{\"kind\":\"contains\",\"reference\":\"(1+1)*[2]\"}", "so (1+1)*[2] = 4", 1);
    SCORE("{\"kind\":\"contains\",\"reference\":\"THE END\",\"case\":\"insensitive\"}",
          "and that was\n\nthe    end.", 1);
    SCORE("{\"kind\":\"contains\",\"reference\":\"abc\"}", "ab", 0);
    SCORE("{\"kind\":\"contains\",\"reference\":\"aab\"}", "aaab", 1); /* restart after a miss */
    SCORE("{\"kind\":\"contains\",\"reference\":\"b\"}", "aab", 1);    /* at the very end */
    /* regex_match: searched anywhere, anchors are the user's */
    SCORE("{\"kind\":\"regex_match\",\"reference\":\"[0-9]+ apples\"}", "I have 12 apples", 1);
    SCORE("{\"kind\":\"regex_match\",\"reference\":\"^[0-9]+$\"}", "I have 12", 0);
    SCORE("{\"kind\":\"regex_match\",\"reference\":\"^[0-9]+$\"}", " 12 ", 1);
    SCORE("{\"kind\":\"regex_match\",\"reference\":\"yes\",\"case\":\"insensitive\"}", "YES", 1);
    SCORE("{\"kind\":\"regex_match\",\"reference\":\"yes\"}", "YES", 0);
    SCORE("{\"kind\":\"regex_match\",\"reference\":[\"^no\",\"^yes\"]}", "yes sir", 1);
    /* extraction: group 1 of the LAST match; no match scores 0 */
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"7\",\"extract\":\"answer is ([0-9]+)\"}",
          "the answer is 5, no wait, the answer is 7", 1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"5\",\"extract\":\"answer is ([0-9]+)\"}",
          "the answer is 5, no wait, the answer is 7", 0);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"7\",\"extract\":\"answer is ([0-9]+)\"}",
          "I do not know", 0);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"7\",\"extract\":\"answer is ([0-9]+)\"}", "7",
          0); /* the whole text is not used when nothing is extracted */
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"7\",\"extract\":\"#### *(.*)$\"}",
          "work...\n#### 7", 1);
    SCORE("{\"kind\":\"contains\",\"reference\":\"b\",\"extract\":\"<(.*)>\"}", "<abc> b", 1);
    SCORE("{\"kind\":\"contains\",\"reference\":\"d\",\"extract\":\"<([^>]*)>\"}", "<abc> <d>", 1);
    SCORE("{\"kind\":\"contains\",\"reference\":\"a\",\"extract\":\"<([^>]*)>\"}", "<abc> <d>", 0);
    /* a group that does not take part in the last match: the last match where it did */
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"1\",\"extract\":\"x([0-9])|y\"}", "x1 y", 1);
    SCORE("{\"kind\":\"exact_match\",\"reference\":\"Z\",\"extract\":\"ANS: *(.)\","
          "\"case\":\"insensitive\"}",
          "ans: z", 1);
    /* NUL bytes are characters: nothing is cut at them */
    {
        double got = score1("{\"kind\":\"contains\",\"reference\":\"tail\"}", "head\0tail", 9);
        CHECK(got == 1, "contains finds text after a NUL byte: %g", got);
        got = score1("{\"kind\":\"regex_match\",\"reference\":\"ta.l$\"}", "head\0tail", 9);
        CHECK(got == 1, "regex_match reads past a NUL byte: %g", got);
        got = score1("{\"kind\":\"exact_match\",\"reference\":\"head\"}", "head\0tail", 9);
        CHECK(got == 0, "exact_match: a NUL byte is part of the answer: %g", got);
        got = score1("{\"kind\":\"exact_match\",\"reference\":\"9\",\"extract\":\"= ([0-9])\"}",
                     "= 1\0= 9", 7);
        CHECK(got == 1, "extraction's last match after a NUL byte: %g", got);
    }

    /* bad specs */
    refused("{\"kind\":\"exact_match\"}",
            "job.json: utility.reference: is required (a string or a list of strings), here or "
            "on every line of the job's tasks file");
    refused("{\"kind\":\"contains\",\"reference\":7}",
            "job.json: utility.reference: must be a string or a list of strings, got 7");
    refused("{\"kind\":\"contains\",\"reference\":[]}",
            "job.json: utility.reference: a list of references must hold 1 to 1000 strings, got 0");
    refused("{\"kind\":\"contains\",\"reference\":[\"a\",3]}",
            "job.json: utility.reference[1]: must be a string, got 3");
    refused("{\"kind\":\"contains\",\"reference\":\"  \"}",
            "job.json: utility.reference: must not be empty once normalised (it would match any "
            "text), got \"  \"");
    refused("{\"kind\":\"exact_match\",\"reference\":[\"a\",\"\"]}",
            "job.json: utility.reference[1]: must not be empty once normalised (it would match "
            "only an empty answer), got \"\"");
    refused("{\"kind\":\"regex_match\",\"reference\":\"\"}",
            "job.json: utility.reference: must not be empty (it would match any text), got \"\"");
    refused("{\"kind\":\"regex_match\",\"reference\":[\"ok\",\"a(b\"]}",
            "job.json: utility.reference[1]: is not a valid POSIX extended regular expression "
            "(Unmatched ( or \\(), got \"a(b\"");
    refused("{\"kind\":\"exact_match\",\"reference\":\"1\",\"extract\":\"[0-9]+\"}",
            "job.json: utility.extract: needs a capture group ( ... ): the answer is its first "
            "group, got \"[0-9]+\"");
    refused("{\"kind\":\"exact_match\",\"reference\":\"1\",\"extract\":\"[0-9\"}",
            "job.json: utility.extract: is not a valid POSIX extended regular expression "
            "(Unmatched [, [^, [:, [., or [=), got \"[0-9\"");
    refused("{\"kind\":\"exact_match\",\"reference\":\"1\",\"case\":\"fold\"}",
            "job.json: utility.case: must be one of \"sensitive\", \"insensitive\", got \"fold\"");
    refused("{\"kind\":\"exact_match\",\"reference\":\"1\",\"whitespace\":\"trim\"}",
            "job.json: utility.whitespace: must be one of \"collapse\", \"exact\", got \"trim\"");
    refused("{\"kind\":\"exact_match\",\"reference\":\"1\",\"pattern\":\"x\"}",
            "job.json: utility.pattern: unknown field (expected one of: kind, reference, case, "
            "whitespace, extract)");
    {
        /* a reference longer than 64 KiB */
        static char json[70000 + 64];
        size_t n = (size_t)snprintf(json, sizeof json, "{\"kind\":\"contains\",\"reference\":\"");
        memset(json + n, 'a', 65537);
        strcpy(json + n + 65537, "\"}");
        refused(json, "job.json: utility.reference: is longer than 65536 bytes");
    }
    return check_done("test_match");
}
