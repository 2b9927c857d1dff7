/* The text buffer: appends, JSON strings, and QZ_ENOMEM for a size it cannot hold. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "textbuf.h"

int main(void)
{
    struct qz_textbuf b = {0};
    static const char want[] = "[\"a\\\"b\\\\c\\u000a\\ufffdé\"]";

    CHECK(qz_textbuf_put(&b, "[", 1) == QZ_OK, "put");
    CHECK(qz_textbuf_put_json_string(&b, "a\"b\\c\n\xff\xc3\xa9", 9) == QZ_OK, "json string");
    CHECK(qz_textbuf_put(&b, "]", 1) == QZ_OK, "put");
    CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "got %.*s, want %s",
          (int)b.len, b.data, want);
    CHECK(qz_textbuf_reserve(&b, SIZE_MAX / 2) == QZ_ENOMEM, "an impossible size");
    CHECK(qz_textbuf_put_json_string(&b, "x", SIZE_MAX / 4) == QZ_ENOMEM,
          "an impossible JSON string");
    CHECK(b.len == strlen(want), "a failed append leaves the buffer as it was");
    qz_textbuf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.size == 0, "freed");
    return check_done("test_textbuf");
}
