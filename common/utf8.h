/* UTF-8 hygiene: every text quantilize stores is valid UTF-8, and every text it shows
 * on a terminal is escaped so that it cannot drive the terminal.
 *
 * Invalid input is repaired the way Unicode recommends ("substitution of maximal
 * subparts", as Python's errors="replace" and browsers do): each maximal ill-formed
 * subsequence becomes one U+FFFD. All functions are local and pure. */
#ifndef QZ_UTF8_H
#define QZ_UTF8_H

#include <stddef.h>

#define QZ_UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD, 3 bytes */

/* 1 if s[0..len) is valid UTF-8 (NUL bytes are valid characters). */
int qz_utf8_valid(const char *s, size_t len);

/* The offset of the first byte of s[0..len) that starts an invalid sequence; len when
 * s is valid UTF-8. */
size_t qz_utf8_invalid_at(const char *s, size_t len);

/* The length of s[0..len) once repaired: at most 3 * len. */
size_t qz_utf8_repaired_len(const char *s, size_t len);

/* Write s[0..len) repaired into out (room for qz_utf8_repaired_len bytes; not
 * NUL-terminated; out must not overlap s). Returns the number of U+FFFD written. */
size_t qz_utf8_repair(const char *s, size_t len, char *out);

/* The largest n <= max such that s[0..n) does not end inside a character (for valid
 * UTF-8; on invalid input it never backs off more than 3 bytes). */
size_t qz_utf8_cut(const char *s, size_t len, size_t max);

/* Terminal-safe text: s[0..len) with control characters escaped (\n, \r, \t, \\xNN for
 * the other C0 controls and DEL, \\u0080 .. \\u009f for the C1 controls, \\xNN for each
 * byte of an invalid sequence), showing at most `max` bytes of s, cut at a character
 * boundary, and "..." appended when s was cut. Writes at most out_len bytes, NUL
 * included, never ending inside an escape or a character; returns the bytes written
 * (NUL excluded). out_len >= 4 * max + 8 always holds the whole result. */
size_t qz_utf8_escape(const char *s, size_t len, size_t max, char *out, size_t out_len);

/* Copy s[0..len) into out with every occurrence of `secret` (when not NULL or empty)
 * and every token after "Bearer " (any case) replaced by "[hidden]", writing at most
 * out_len bytes, NUL included (the rest of s is dropped). Returns the bytes written (NUL
 * excluded). Secrets are matched in the whole of s, so a cut never shows part of one. */
size_t qz_scrub_secret(const char *s, size_t len, const char *secret, char *out, size_t out_len);

#endif
