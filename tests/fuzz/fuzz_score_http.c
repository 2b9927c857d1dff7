/* Fuzz target: the reward-server answer parser (on_answer in common/score_http.c,
 * static: this file includes the source). The scorer is set up as the "custom" preset
 * with score_path "scores", score_field "score" and index_field "index"; the first
 * byte of the input is the number of texts asked for (1 to 64). */
#include "../../common/score_http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qz_scorer s;
    struct http_tag tag = {0, 0};
    struct qz_http_result res;
    struct qz_error err = {QZ_OK, ""};
    double out[64], tmp[64];
    size_t idx[64];
    unsigned char seen[64];
    char who[] = "utility", *body;

    if (size < 1 || !(body = malloc(size)))
        return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0'; /* the HTTP client's bodies are NUL-terminated */
    memset(&s, 0, sizeof s);
    memset(&res, 0, sizeof res);
    s.who = who;
    if (path_parse("scores", &s.list) || path_parse("score", &s.score) ||
        path_parse("index", &s.index))
        goto done;
    s.has_index = data[0] & 0x80;
    tag.count = 1 + (data[0] & 63);
    for (size_t i = 0; i < 64; i++)
        idx[i] = i;
    s.out = out;
    s.tmp = tmp;
    s.idx = idx;
    s.seen = seen;
    res.body = body;
    res.body_len = size - 1;
    res.status = 200;
    on_answer(&s, &tag, &res, &err);
done:
    path_free(&s.list);
    path_free(&s.score);
    path_free(&s.index);
    free(body);
    return 0;
}
