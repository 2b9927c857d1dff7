/* qz_ckpt_check: a checkpoint whose checksums are valid is still refused when a count
 * it holds is out of range (issue 14): each case below changes one field of a valid
 * header and table, recomputes the checksum, and wants that field named. */
#include <stddef.h>
#include <string.h>

#include "check.h"
#include "checkpoint.h"
#include "topset.h"

#define E sizeof(struct qz_entry)
#define P sizeof(struct qz_ckpt_payload)

/* A valid one-section checkpoint: N = 1000, chunks of 100, 3 done, 10 entries, 2
 * payloads of 5 bytes. Returns the file size it describes. */
static uint64_t valid(struct qz_ckpt_header *h, struct qz_ckpt_section *s)
{
    memset(h, 0, sizeof *h);
    memset(s, 0, sizeof *s);
    memcpy(h->magic, QZ_CKPT_MAGIC, sizeof h->magic);
    h->version = QZ_CKPT_VERSION;
    h->ranks = 1;
    h->samples = 1000;
    h->chunk_size = 100;
    h->chunks_done = 3;
    h->samples_done = 300;
    h->invalid = 4;
    h->text = 1;
    s->offset = sizeof *h + sizeof *s;
    s->entries = 10;
    s->ties_out = 1;
    s->payloads = 2;
    s->text_bytes = 10;
    return s->offset + 10 * E + 2 * P + 10;
}

static void seal(struct qz_ckpt_header *h, const struct qz_ckpt_section *s)
{
    h->checksum = qz_ckpt_header_checksum(h, s);
}

int main(void)
{
    struct qz_ckpt_header h;
    struct qz_ckpt_section s;
    struct qz_error err = {QZ_OK, ""};
    uint64_t size = valid(&h, &s);
    static const struct {
        const char *field;
        int which; /* 0: header, 1: section */
        size_t offset;
        uint64_t value;
    } cases[] = {
        {"samples", 0, offsetof(struct qz_ckpt_header, samples), 0},
        {"samples", 0, offsetof(struct qz_ckpt_header, samples), (1ULL << 53) + 1},
        {"chunk_size", 0, offsetof(struct qz_ckpt_header, chunk_size), 0},
        {"chunk_size", 0, offsetof(struct qz_ckpt_header, chunk_size), 1ULL << 40},
        /* chunks_done x chunk_size would wrap to 0 with 2^57 chunks of 2^7 */
        {"chunks_done", 0, offsetof(struct qz_ckpt_header, chunks_done), 1ULL << 57},
        {"chunks_done", 0, offsetof(struct qz_ckpt_header, chunks_done), 11},
        {"samples_done", 0, offsetof(struct qz_ckpt_header, samples_done), 301},
        {"invalid", 0, offsetof(struct qz_ckpt_header, invalid), 301},
        {"text", 0, offsetof(struct qz_ckpt_header, text), 2},
        {"archive_text_bytes", 0, offsetof(struct qz_ckpt_header, archive_text_bytes), ~0ULL},
        {"outage_seconds", 0, offsetof(struct qz_ckpt_header, outage_seconds),
         0x7ff8000000000000ULL}, /* NaN */
        {"outage_seconds", 0, offsetof(struct qz_ckpt_header, outage_seconds),
         0xbff0000000000000ULL}, /* -1 */
        {"nservers", 0, offsetof(struct qz_ckpt_header, nservers), QZ_CKPT_SERVERS + 1},
        {"section.entries", 1, offsetof(struct qz_ckpt_section, entries), 301},
        /* entries x 24 would wrap around */
        {"section.entries", 1, offsetof(struct qz_ckpt_section, entries), 1ULL << 62},
        {"section.ties_out", 1, offsetof(struct qz_ckpt_section, ties_out), 1ULL << 60},
        {"section.payloads", 1, offsetof(struct qz_ckpt_section, payloads), 11},
        {"section.text_bytes", 1, offsetof(struct qz_ckpt_section, text_bytes), ~0ULL - 100},
    };

    seal(&h, &s);
    CHECK(qz_ckpt_check("c.ckpt", size, &h, &s, &err) == QZ_OK, "the valid checkpoint: %s",
          err.msg);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[200];
        valid(&h, &s);
        memcpy((cases[i].which ? (char *)&s : (char *)&h) + cases[i].offset, &cases[i].value,
               sizeof cases[i].value);
        seal(&h, &s);
        snprintf(want, sizeof want,
                 "checkpoint c.ckpt: field %s out of range: remove it to start the run afresh",
                 cases[i].field);
        err.msg[0] = '\0';
        CHECK(qz_ckpt_check("c.ckpt", size, &h, &s, &err) == QZ_ECKPT && strcmp(err.msg, want) == 0,
              "case %zu (%s = %llu): got \"%s\"", i, cases[i].field,
              (unsigned long long)cases[i].value, err.msg);
    }
    /* The servers' table: a URL without its NUL, more failures than requests. */
    for (int c = 0; c < 3; c++) {
        valid(&h, &s);
        h.nservers = 2;
        strcpy(h.servers[0].url, "http://a:8000/v1");
        strcpy(h.servers[1].url, "http://b:8000/v1");
        h.servers[1].requests = 7;
        h.servers[1].failures = c == 1 ? 8 : 7;
        if (c == 2)
            memset(h.servers[1].url, 'x', sizeof h.servers[1].url);
        seal(&h, &s);
        err.msg[0] = '\0';
        CHECK((qz_ckpt_check("c.ckpt", size, &h, &s, &err) == QZ_OK) == (c == 0) &&
                  (c == 0 || strstr(err.msg, "field servers out of range")),
              "servers case %d: \"%s\"", c, err.msg);
    }
    return check_done("test_checkpoint");
}
