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

static enum qz_status out_of_range(const char *path, const char *field, struct qz_error *err)
{
    return qz_error_set(err, QZ_ECKPT,
                        "checkpoint %s: field %s out of range: remove it to start the run afresh",
                        path, field);
}

/* Every count of the header and its table within what a run can have written: the
 * checksums tell damage from chance, not a file made to pass them. */
static enum qz_status check_bounds(const char *path, uint64_t file_size,
                                   const struct qz_ckpt_header *h,
                                   const struct qz_ckpt_section *table, struct qz_error *err)
{
    uint64_t chunks;

    if (h->samples < 1 || h->samples > QZ_CKPT_SAMPLES_MAX)
        return out_of_range(path, "samples", err);
    if (h->chunk_size < 1 || h->chunk_size > QZ_CKPT_CHUNK_MAX)
        return out_of_range(path, "chunk_size", err);
    chunks = h->samples / h->chunk_size + (h->samples % h->chunk_size != 0);
    if (h->chunks_done > chunks) /* so chunks_done x chunk_size < samples + chunk_size */
        return out_of_range(path, "chunks_done", err);
    if (h->samples_done > h->samples || h->samples_done > h->chunks_done * h->chunk_size)
        return out_of_range(path, "samples_done", err);
    if (h->invalid > h->samples_done)
        return out_of_range(path, "invalid", err);
    if (h->text > 1)
        return out_of_range(path, "text", err);
    for (int k = 0; k < QZ_CKPT_METRICS; k++)
        if (h->metrics[k].count > h->samples_done || h->metrics[k].invalid > h->metrics[k].count)
            return out_of_range(path, "metrics", err);
    if (h->archive_text_bytes > QZ_CKPT_BYTES_MAX)
        return out_of_range(path, "archive_text_bytes", err);
    if (!(h->outage_seconds >= 0 && h->outage_seconds <= 1e15)) /* NaN too */
        return out_of_range(path, "outage_seconds", err);
    if (h->nservers > QZ_CKPT_SERVERS)
        return out_of_range(path, "nservers", err);
    for (uint64_t i = 0; i < h->nservers; i++)
        if (!memchr(h->servers[i].url, '\0', sizeof h->servers[i].url) ||
            h->servers[i].failures > h->servers[i].requests)
            return out_of_range(path, "servers", err);
    for (uint32_t r = 0; r < h->ranks; r++) {
        const struct qz_ckpt_section *s = &table[r];
        /* each entry is a sample done; each payload an entry's; the text is in the file */
        if (s->entries > h->samples_done)
            return out_of_range(path, "section.entries", err);
        if (s->ties_out > h->samples_done)
            return out_of_range(path, "section.ties_out", err);
        if (s->payloads > s->entries)
            return out_of_range(path, "section.payloads", err);
        if (s->text_bytes > file_size)
            return out_of_range(path, "section.text_bytes", err);
    }
    return QZ_OK;
}

enum qz_status qz_ckpt_check(const char *path, uint64_t file_size, const struct qz_ckpt_header *h,
                             const struct qz_ckpt_section *table, struct qz_error *err)
{
    uint64_t at = sizeof *h + (uint64_t)h->ranks * sizeof *table;
    enum qz_status rc;

    if (qz_ckpt_header_checksum(h, table) != h->checksum)
        return qz_error_set(err, QZ_ECKPT,
                            "checkpoint %s is damaged (its header checksum does not match): "
                            "remove it to start the run afresh",
                            path);
    if ((rc = check_bounds(path, file_size, h, table, err)))
        return rc;
    for (uint32_t r = 0; r < h->ranks; r++) {
        const struct qz_ckpt_section *s = &table[r];
        if (s->offset != at)
            return qz_error_set(err, QZ_ECKPT, "checkpoint %s is damaged (section %u is misplaced)",
                                path, r);
        at += qz_ckpt_section_bytes(s); /* < 2^59 + 2^59 + file_size: no overflow */
        if (at > file_size)
            break; /* said below */
    }
    if (at != file_size)
        return qz_error_set(err, QZ_ECKPT,
                            "checkpoint %s is truncated or damaged: %llu bytes, expected %llu; "
                            "remove it to start the run afresh",
                            path, (unsigned long long)file_size, (unsigned long long)at);
    return QZ_OK;
}

enum qz_status qz_ckpt_section_check(const char *path, const struct qz_ckpt_header *h,
                                     const struct qz_ckpt_section *s, const char *buf, size_t k,
                                     struct qz_error *err)
{
    const struct qz_entry *e = (const void *)buf;
    const struct qz_ckpt_payload *rec = (const void *)(buf + s->entries * sizeof *e);
    uint64_t end = h->chunks_done * h->chunk_size; /* bounded by qz_ckpt_check */
    uint64_t text = 0;
    const char *bad = NULL;

    end = end < h->samples ? end : h->samples;
    /* A rank's top set holds at most K + max(K/8, 4096) entries (topset.h). */
    if (s->entries > (uint64_t)k + (k / 8 > 4096 ? k / 8 : 4096))
        bad = "section.entries";
    for (uint64_t i = 0; i < s->entries && !bad; i++) {
        struct qz_entry x;
        memcpy(&x, e + i, sizeof x);
        bad = x.index >= end ? "section.entry.index" : NULL;
    }
    for (uint64_t i = 0; i < s->payloads && !bad; i++) {
        struct qz_ckpt_payload p;
        memcpy(&p, rec + i, sizeof p);
        text += p.len;
        bad = p.index >= end         ? "section.payload.index"
              : text > s->text_bytes ? "payload.len"
                                     : NULL;
    }
    return bad ? out_of_range(path, bad, err) : QZ_OK;
}
