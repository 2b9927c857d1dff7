/* A growable byte buffer for building request lines and bodies, with a JSON string
 * writer that never fails on odd text. Local; the buffer owns its memory.
 *
 * The only failure is QZ_ENOMEM, returned without a message: the caller knows what
 * the buffer was for and says so. */
#ifndef QZ_TEXTBUF_H
#define QZ_TEXTBUF_H

#include <stddef.h>

#include "error.h"

struct qz_textbuf {
    char *data; /* owned; not NUL-terminated */
    size_t len, size;
};

/* Room for `more` further bytes. QZ_OK or QZ_ENOMEM. */
enum qz_status qz_textbuf_reserve(struct qz_textbuf *b, size_t more);

/* Append data[0..len). QZ_OK or QZ_ENOMEM. */
enum qz_status qz_textbuf_put(struct qz_textbuf *b, const char *data, size_t len);

/* Append text[0..len) as a JSON string: quotes, backslashes and control characters
 * escaped, invalid UTF-8 replaced by U+FFFD, everything else as is. QZ_OK or
 * QZ_ENOMEM. */
enum qz_status qz_textbuf_put_json_string(struct qz_textbuf *b, const char *text, size_t len);

void qz_textbuf_free(struct qz_textbuf *b);

#endif
