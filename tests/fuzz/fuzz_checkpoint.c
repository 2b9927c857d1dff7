/* Fuzz target: the checkpoint reader's checks on any file (common/checkpoint.c, the
 * part of mpi/ckpt.c's reading that is not MPI): the header and section table, then
 * each section. The harness rewrites the header's checksum to match, so that the
 * fuzzer reaches the bounds checks behind it: a file that passes its checksums must
 * still not be trusted.
 *
 * The input is a checkpoint with its header packed (the full header is 0.59 MB, far
 * above the fuzzer's input sizes): byte 0 is the job's K / 37, then the header's
 * fields in order without the exact sums (left zero: no bound applies to them), of
 * the metrics only their counts, of the servers only the first nservers; then the
 * section table and the sections as in the file, whose offsets count the header at
 * its full size. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "topset.h"

/* Copy up to n bytes of the input into dst (the rest of dst stays zero). */
static void take(void *dst, size_t n, const uint8_t **p, size_t *left)
{
    n = n < *left ? n : *left;
    memcpy(dst, *p, n);
    *p += n;
    *left -= n;
}

#define SPAN(a, b) (offsetof(struct qz_ckpt_header, b) - offsetof(struct qz_ckpt_header, a))

static void unpack(struct qz_ckpt_header *h, const uint8_t **p, size_t *left)
{
    memset(h, 0, sizeof *h);
    take(h, offsetof(struct qz_ckpt_header, cost_sum), p, left);
    take(&h->archive_text_bytes, SPAN(archive_text_bytes, metrics), p, left);
    for (int m = 0; m < QZ_CKPT_METRICS; m++)
        take(&h->metrics[m].count, 2 * sizeof(uint64_t), p, left); /* count, invalid */
    take(&h->outages, SPAN(outages, servers), p, left);
    for (uint64_t i = 0; i < h->nservers && i < QZ_CKPT_SERVERS; i++)
        take(&h->servers[i], sizeof h->servers[i], p, left);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qz_ckpt_header h; /* large: not on the stack */
    struct qz_ckpt_section *table;
    struct qz_error err = {QZ_OK, ""};
    uint64_t file_size;
    size_t k;

    if (size < 1)
        return 0;
    k = data[0] * 37u; /* the job's K */
    data++;
    size--;
    unpack(&h, &data, &size);
    /* data[0 .. size) is the file from the section table on */
    file_size = sizeof h + size;
    if (h.ranks == 0 || h.ranks > 64 || h.ranks * sizeof *table > size)
        return 0;
    table = malloc(h.ranks * sizeof *table);
    if (!table)
        return 0;
    memcpy(table, data, h.ranks * sizeof *table);
    h.checksum = qz_ckpt_header_checksum(&h, table);
    if (qz_ckpt_check("fuzz.ckpt", file_size, &h, table, &err) == QZ_OK) {
        for (uint32_t r = 0; r < h.ranks; r++) {
            uint64_t bytes = qz_ckpt_section_bytes(&table[r]);
            char *buf;
            /* qz_ckpt_check placed every section inside the file, after the header */
            if (table[r].offset < sizeof h || table[r].offset + bytes > file_size)
                abort();
            buf = malloc(bytes ? bytes : 1);
            if (!buf)
                break;
            memcpy(buf, data + (table[r].offset - sizeof h), bytes);
            qz_ckpt_section_check("fuzz.ckpt", &h, &table[r], buf, k, &err);
            free(buf);
        }
    }
    free(table);
    return 0;
}
