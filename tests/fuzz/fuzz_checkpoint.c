/* Fuzz target: the checkpoint reader's checks on any file (common/checkpoint.c, the
 * part of mpi/ckpt.c's reading that is not MPI): the header and section table, then
 * each section. The harness rewrites the header's and sections' checksums to match
 * (after the magic and version), so that the fuzzer reaches the bounds checks behind
 * them: a file that passes its checksums must still not be trusted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "topset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qz_ckpt_header h;
    struct qz_ckpt_section *table;
    struct qz_error err = {QZ_OK, ""};
    size_t k;

    if (size < sizeof h + 1)
        return 0;
    k = data[0] * 37u; /* the job's K */
    data++;
    size--;
    memcpy(&h, data, sizeof h);
    if (h.ranks == 0 || h.ranks > 64 || sizeof h + h.ranks * sizeof *table > size)
        return 0;
    table = malloc(h.ranks * sizeof *table);
    if (!table)
        return 0;
    memcpy(table, data + sizeof h, h.ranks * sizeof *table);
    h.checksum = qz_ckpt_header_checksum(&h, table);
    if (qz_ckpt_check("fuzz.ckpt", size, &h, table, &err) == QZ_OK) {
        for (uint32_t r = 0; r < h.ranks; r++) {
            uint64_t bytes = qz_ckpt_section_bytes(&table[r]);
            char *buf;
            /* qz_ckpt_check placed every section inside the file */
            if (table[r].offset + bytes > size)
                abort();
            buf = malloc(bytes ? bytes : 1);
            if (!buf)
                break;
            memcpy(buf, data + table[r].offset, bytes);
            qz_ckpt_section_check("fuzz.ckpt", &h, &table[r], buf, k, &err);
            free(buf);
        }
    }
    free(table);
    return 0;
}
