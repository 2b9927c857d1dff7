/* A growable byte buffer for building request lines and bodies, with a JSON string
 * writer that never fails on odd text. Local; the buffer owns its memory. */
#ifndef QZ_TEXTBUF_H
#define QZ_TEXTBUF_H

#include <stddef.h>

struct qz_textbuf {
    char *data; /* owned; not NUL-terminated */
    size_t len, size;
};

/* Room for `more` further bytes. 0, or -1 when out of memory. */
int qz_textbuf_reserve(struct qz_textbuf *b, size_t more);

/* Append data[0..len). 0 or -1. */
int qz_textbuf_put(struct qz_textbuf *b, const char *data, size_t len);

/* Append text[0..len) as a JSON string: quotes, backslashes and control characters
 * escaped, invalid UTF-8 replaced by U+FFFD, everything else as is. 0 or -1. */
int qz_textbuf_put_json_string(struct qz_textbuf *b, const char *text, size_t len);

void qz_textbuf_free(struct qz_textbuf *b);

#endif
