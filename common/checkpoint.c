#include "checkpoint.h"

#include <string.h>

#include "topset.h"

uint64_t qz_ckpt_section_bytes(const struct qz_ckpt_section *s)
{
    return s->entries * sizeof(struct qz_entry) + s->payloads * sizeof(struct qz_ckpt_payload) +
           s->text_bytes;
}

static inline uint64_t mix(uint64_t h, uint64_t w)
{
    h ^= w;
    h *= 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 31);
}

uint64_t qz_checksum(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = mix(h, w);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, b + i, n - i);
        h = mix(h, w ^ ((uint64_t)(n - i) << 56));
    }
    return mix(h, n);
}

uint64_t qz_ckpt_header_checksum(const struct qz_ckpt_header *h,
                                 const struct qz_ckpt_section *table)
{
    struct qz_ckpt_header copy = *h;
    copy.checksum = 0;
    return qz_checksum(table, h->ranks * sizeof *table,
                       qz_checksum(&copy, sizeof copy, QZ_CHECKSUM_SEED));
}

enum qz_status qz_ckpt_check(const char *path, uint64_t file_size, const struct qz_ckpt_header *h,
                             const struct qz_ckpt_section *table, struct qz_error *err)
{
    uint64_t at = sizeof *h + (uint64_t)h->ranks * sizeof *table;

    if (qz_ckpt_header_checksum(h, table) != h->checksum)
        return qz_error_set(err, QZ_ECKPT,
                            "checkpoint %s is damaged (its header checksum does not match): "
                            "remove it to start the run afresh",
                            path);
    for (uint32_t r = 0; r < h->ranks; r++) {
        const struct qz_ckpt_section *s = &table[r];
        if (s->offset != at)
            return qz_error_set(err, QZ_ECKPT, "checkpoint %s is damaged (section %u is misplaced)",
                                path, r);
        at += qz_ckpt_section_bytes(s);
    }
    if (at != file_size)
        return qz_error_set(err, QZ_ECKPT,
                            "checkpoint %s is truncated or damaged: %llu bytes, expected %llu; "
                            "remove it to start the run afresh",
                            path, (unsigned long long)file_size, (unsigned long long)at);
    return QZ_OK;
}
