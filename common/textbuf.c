#include "textbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum qz_status qz_textbuf_reserve(struct qz_textbuf *b, size_t more)
{
    size_t size = b->size ? b->size : 4096;
    char *grown;
    if (more > SIZE_MAX / 4 - b->len)
        return QZ_ENOMEM;
    if (b->len + more <= b->size)
        return QZ_OK;
    while (size < b->len + more)
        size *= 2;
    if (!(grown = realloc(b->data, size)))
        return QZ_ENOMEM;
    b->data = grown;
    b->size = size;
    return QZ_OK;
}

enum qz_status qz_textbuf_put(struct qz_textbuf *b, const char *data, size_t len)
{
    if (qz_textbuf_reserve(b, len))
        return QZ_ENOMEM;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return QZ_OK;
}

/* Length of the valid UTF-8 sequence at t[0..len), or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *t, size_t len)
{
    unsigned char c = t[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else
        return 0;
    if (len < n || t[1] < lo || t[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((t[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Append t[0..len) as a JSON string: quotes, backslashes and control characters
 * escaped, invalid UTF-8 replaced by U+FFFD, everything else as is. */
enum qz_status qz_textbuf_put_json_string(struct qz_textbuf *b, const char *text, size_t len)
{
    const unsigned char *t = (const unsigned char *)text;
    static const char hex[] = "0123456789abcdef";

    /* at most 6 bytes out per byte in (\u00XX), plus the quotes */
    if (len > (SIZE_MAX - 2) / 6 || qz_textbuf_reserve(b, 6 * len + 2))
        return QZ_ENOMEM;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = t[i];
        size_t n = utf8_sequence(t + i, len - i);
        char *o = b->data + b->len;
        if (n == 0) {
            memcpy(o, "\\ufffd", 6);
            b->len += 6;
            i++;
        } else if (c == '"' || c == '\\') {
            o[0] = '\\';
            o[1] = (char)c;
            b->len += 2;
            i++;
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            b->len += 6;
            i++;
        } else {
            memcpy(o, t + i, n);
            b->len += n;
            i += n;
        }
    }
    b->data[b->len++] = '"';
    return QZ_OK;
}

void qz_textbuf_free(struct qz_textbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->size = 0;
}
