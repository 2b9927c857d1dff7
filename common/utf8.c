#include "utf8.h"

#include <stdio.h>
#include <string.h>

/* The character at p[0..n): returns the bytes it takes (>= 1) and sets *ok. An invalid
 * sequence takes its maximal ill-formed subpart: the lead byte and the continuation
 * bytes that were still possible. */
static size_t char_at(const unsigned char *p, size_t n, int *ok)
{
    unsigned char b = p[0], lo = 0x80, hi = 0xBF;
    size_t need, k;

    *ok = 0;
    if (b < 0x80) {
        *ok = 1;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF)
        need = 1;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0)
            lo = 0xA0; /* overlong */
        else if (b == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0)
            lo = 0x90; /* overlong */
        else if (b == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else
        return 1;
    for (k = 1; k <= need; k++) {
        if (k >= n || p[k] < lo || p[k] > hi)
            return k;
        lo = 0x80;
        hi = 0xBF;
    }
    *ok = 1;
    return need + 1;
}

size_t qz_utf8_invalid_at(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n;
    int ok;

    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        n = char_at(p + i, len - i, &ok);
        if (!ok)
            return i;
        i += n;
    }
    return len;
}

int qz_utf8_valid(const char *s, size_t len)
{
    return qz_utf8_invalid_at(s, len) == len;
}

size_t qz_utf8_repaired_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, out = 0;
    int ok;

    while (i < len) {
        size_t k = char_at(p + i, len - i, &ok);
        out += ok ? k : 3;
        i += k;
    }
    return out;
}

size_t qz_utf8_repair(const char *s, size_t len, char *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0, fixed = 0;
    int ok;

    while (i < len) {
        size_t k = char_at(p + i, len - i, &ok);
        if (ok)
            memcpy(out + o, s + i, k);
        else {
            memcpy(out + o, QZ_UTF8_REPLACEMENT, 3);
            fixed++;
        }
        o += ok ? k : 3;
        i += k;
    }
    return fixed;
}

size_t qz_utf8_cut(const char *s, size_t len, size_t max)
{
    size_t n = max < len ? max : len, back = 0;

    while (n < len && n > 0 && back < 3 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;
        back++;
    }
    return n;
}

size_t qz_utf8_escape(const char *s, size_t len, size_t max, char *out, size_t out_len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t show = qz_utf8_cut(s, len, max), i = 0, o = 0;
    int ok;

    if (!out_len)
        return 0;
    while (i < show) {
        char piece[32];
        size_t k = char_at(p + i, show - i, &ok), plen = 0;
        if (ok && k == 1 && p[i] >= 0x20 && p[i] != 0x7F) {
            piece[0] = (char)p[i];
            plen = 1;
        } else if (ok && k == 1) {
            const char *named = p[i] == '\n'   ? "\\n"
                                : p[i] == '\r' ? "\\r"
                                : p[i] == '\t' ? "\\t"
                                               : NULL;
            plen = named ? (size_t)snprintf(piece, sizeof piece, "%s", named)
                         : (size_t)snprintf(piece, sizeof piece, "\\x%02x", p[i]);
        } else if (ok && k == 2 && p[i] == 0xC2 && p[i + 1] < 0xA0) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\u%04x", (unsigned)(p[i + 1]));
        } else if (ok) {
            memcpy(piece, s + i, k);
            plen = k;
        } else {
            for (size_t j = 0; j < k; j++)
                plen += (size_t)snprintf(piece + plen, sizeof piece - plen, "\\x%02x", p[i + j]);
        }
        if (o + plen + 1 > out_len)
            break;
        memcpy(out + o, piece, plen);
        o += plen;
        i += k;
    }
    if (i < len && o + 4 <= out_len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return o;
}

/* The length of the token after "Bearer " at s[i..len), or 0 when there is none. */
static size_t bearer_at(const char *s, size_t len, size_t i)
{
    static const char word[] = "bearer ";
    size_t n = sizeof word - 1, k;

    if (len - i <= n)
        return 0;
    for (k = 0; k < n; k++) {
        char c = s[i + k];
        if ((c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c) != word[k])
            return 0;
    }
    while (i + k < len && s[i + k] == ' ')
        k++;
    n = k;
    while (i + k < len && (unsigned char)s[i + k] > 0x20 && s[i + k] != '"' && s[i + k] != '\'' &&
           s[i + k] != ',' && s[i + k] != '}' && s[i + k] != '\\' && s[i + k] != 0x7F)
        k++;
    return k > n ? n : 0;
}

size_t qz_scrub_secret(const char *s, size_t len, const char *secret, char *out, size_t out_len)
{
    static const char hidden[] = "[hidden]";
    size_t slen = secret ? strlen(secret) : 0, i = 0, o = 0;

    if (!out_len)
        return 0;
    while (i < len) {
        size_t word, skip = 0;
        if (slen && len - i >= slen && memcmp(s + i, secret, slen) == 0)
            skip = slen;
        else if ((word = bearer_at(s, len, i))) {
            /* keep "Bearer ", hide its token */
            size_t tok = word, end = i + word;
            while (end < len && (unsigned char)s[end] > 0x20 && s[end] != '"' && s[end] != '\'' &&
                   s[end] != ',' && s[end] != '}' && s[end] != '\\' && s[end] != 0x7F)
                end++;
            if (o + tok + sizeof hidden > out_len)
                break;
            memcpy(out + o, s + i, tok);
            o += tok;
            memcpy(out + o, hidden, sizeof hidden - 1);
            o += sizeof hidden - 1;
            i = end;
            continue;
        }
        if (skip) {
            if (o + sizeof hidden > out_len)
                break;
            memcpy(out + o, hidden, sizeof hidden - 1);
            o += sizeof hidden - 1;
            i += skip;
            continue;
        }
        if (o + 2 > out_len)
            break;
        out[o++] = s[i++];
    }
    out[o] = '\0';
    return o;
}
