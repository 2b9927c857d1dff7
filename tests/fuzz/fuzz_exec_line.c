/* Fuzz target: the exec generator's answer-line parser (on_line in common/gen_exec.c,
 * static: this file includes the source). The input's lines are the answer lines to a
 * request for up to 16 samples from index 0; the first byte's low bit asks for numbers
 * instead of texts. */
#include "../../common/gen_exec.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qz_generator g;
    struct qz_batch b;
    struct qz_error err = {QZ_OK, ""};
    char *text;
    size_t k = 0, at = 1;

    if (size < 1 || qz_batch_init(&b, 16, &err) != QZ_OK)
        return 0;
    if (!(text = malloc(size))) {
        qz_batch_free(&b);
        return 0;
    }
    memset(&g, 0, sizeof g);
    g.text = !(data[0] & 1);
    g.out = &b;
    snprintf(g.req, sizeof g.req, "{\"first\": 0, \"count\": 16, \"seed\": 1}");
    qz_batch_begin(&b, 0, 16, g.text);
    while (at < size && k < 16) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
        memcpy(text, data + at, len);
        text[len] = '\0'; /* coproc.c hands lines NUL-terminated, without their newline */
        if (on_line(&g, k, text, len, &err) != QZ_OK) {
            if (strchr(err.msg, '\n'))
                abort(); /* messages are one line */
            break;
        }
        k++;
        at += len + 1;
    }
    free(text);
    qz_batch_free(&b);
    return 0;
}
