/* Fuzz target: the model-server answer parser (openai_parse in common/gen_openai.c,
 * static: this file includes the source, so the parser is fuzzed as built, unchanged).
 * The first byte picks completions or chat, log-probs or not, and n. */
#include "../../common/gen_openai.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct openai_choice ch[OPENAI_N_MAX];
    cJSON *root = NULL;
    uint32_t taken = 0, kind = 0, n;
    uint64_t pt, ct;
    char why[256], *body;
    int chat, logprobs;

    if (size < 1 || !(body = malloc(size)))
        return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0'; /* the HTTP client's bodies are NUL-terminated */
    chat = data[0] & 1;
    logprobs = (data[0] >> 1) & 1;
    n = 1 + (uint32_t)(data[0] >> 2) % OPENAI_N_MAX;
    if (openai_parse(body, size - 1, chat, logprobs, n, &root, ch, &taken, &pt, &ct, &kind, why,
                     sizeof why) == QZ_OK) {
        if (taken < 1 || taken > n)
            abort();
        for (uint32_t k = 0; k < taken; k++)
            if (!ch[k].text)
                abort();
        cJSON_Delete(root);
    } else if (root) {
        abort(); /* a failed parse leaves nothing to free */
    }
    free(body);
    return 0;
}
