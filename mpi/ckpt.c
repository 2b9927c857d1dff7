#include "ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agree.h"
#include "safefile.h"
#include "sidefile.h"

#define QZ_IO_PIECE ((size_t)1 << 30) /* bytes per MPI-IO call: under INT_MAX */
#define QZ_CKPT_RANKS_MAX (1u << 24)

/* What this rank writes: its entries as they are, the payload records of those that
 * have one, and their texts. */
struct section_data {
    struct qz_ckpt_section s;
    struct qz_ckpt_payload *rec;
    char *text;
};

static enum qz_status build_section(const struct qz_topset *ts, const struct qz_payloads *pl,
                                    struct section_data *d, struct qz_error *err)
{
    uint64_t c = QZ_CHECKSUM_SEED, bytes = 0;
    double low = INFINITY;

    memset(d, 0, sizeof *d);
    d->s.entries = ts->n;
    /* ties_out as qz_topset_finish would leave it: counted against the lowest held
     * utility, which the reader takes it to be. */
    for (size_t i = 0; i < ts->n; i++)
        low = ts->e[i].utility < low ? ts->e[i].utility : low;
    d->s.ties_out = ts->n && low == ts->thr ? ts->ties_out : 0;
    if (pl) {
        struct qz_payload p;
        d->rec = malloc((ts->n ? ts->n : 1) * sizeof *d->rec);
        if (!d->rec)
            return qz_error_set(err, QZ_ENOMEM, "out of memory writing a checkpoint");
        for (size_t i = 0; i < ts->n; i++)
            if (qz_payload_get(pl, ts->e[i].index, &p)) {
                d->rec[d->s.payloads++] =
                    (struct qz_ckpt_payload){ts->e[i].index, p.len, p.tokens, p.logprob_sum};
                bytes += p.len;
            }
        d->text = malloc(bytes ? bytes : 1);
        if (!d->text)
            return qz_error_set(err, QZ_ENOMEM, "out of memory writing a checkpoint");
        for (uint64_t i = 0, off = 0; i < d->s.payloads; i++) {
            qz_payload_get(pl, d->rec[i].index, &p);
            memcpy(d->text + off, p.text, p.len);
            off += p.len;
        }
        d->s.text_bytes = bytes;
    }
    c = qz_checksum(ts->e, ts->n * sizeof *ts->e, c);
    c = qz_checksum(d->rec, d->s.payloads * sizeof *d->rec, c);
    d->s.checksum = qz_checksum(d->text, d->s.text_bytes, c);
    return QZ_OK;
}

static int write_all(MPI_File fh, uint64_t at, const void *p, uint64_t n)
{
    const char *b = p;
    for (uint64_t off = 0; off < n; off += QZ_IO_PIECE) {
        int part = (int)(n - off < QZ_IO_PIECE ? n - off : QZ_IO_PIECE);
        if (MPI_File_write_at(fh, (MPI_Offset)(at + off), b + off, part, MPI_BYTE,
                              MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

void qz_ckpt_header_init(struct qz_ckpt_header *h, const struct qz_job *job, uint64_t job_hash,
                         uint64_t task)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, QZ_CKPT_MAGIC, sizeof h->magic);
    h->version = QZ_CKPT_VERSION;
    h->job_hash = job_hash;
    h->task = task;
    h->samples = job->samples;
    h->chunk_size = job->chunk_size;
    h->text = (uint64_t)qz_job_text_samples(job);
}

void qz_ckpt_set_stats(struct qz_ckpt_header *h, const struct qz_gen_stats *st)
{
    h->stats[0] = st->requests;
    h->stats[1] = st->retries;
    h->stats[2] = st->failed_samples;
    h->stats[3] = st->prompt_tokens;
    h->stats[4] = st->completion_tokens;
    h->utf8_repaired = st->utf8_repaired_samples;
}

_Static_assert(QZ_GEN_FAIL_KINDS + 4 <= QZ_CKPT_REPORT_WORDS, "the report fits the header");
_Static_assert(QZ_GEN_SERVERS_MAX == QZ_CKPT_SERVERS && QZ_GEN_URL_MAX == QZ_CKPT_URL_MAX,
               "a checkpoint holds a report's servers");

void qz_ckpt_set_report(struct qz_ckpt_header *h, const struct qz_gen_report *r)
{
    memcpy(h->report, r->failures, sizeof r->failures);
    h->report[QZ_GEN_FAIL_KINDS] = r->completion_tokens_counted;
    h->report[QZ_GEN_FAIL_KINDS + 1] = r->nul_texts;
    h->report[QZ_GEN_FAIL_KINDS + 2] = r->model_changed;
    h->report[QZ_GEN_FAIL_KINDS + 3] = r->last_failure_at;
    h->outages = r->outages;
    h->outage_seconds = r->outage_seconds;
    h->nservers = r->nservers <= QZ_CKPT_SERVERS ? r->nservers : QZ_CKPT_SERVERS;
    for (uint64_t i = 0; i < h->nservers; i++) {
        memcpy(h->servers[i].url, r->servers[i].url, sizeof h->servers[i].url);
        h->servers[i].url[sizeof h->servers[i].url - 1] = '\0';
        h->servers[i].requests = r->servers[i].requests;
        h->servers[i].failures = r->servers[i].failures;
    }
}

void qz_ckpt_report(const struct qz_ckpt_header *h, struct qz_gen_report *r)
{
    memset(r, 0, sizeof *r);
    memcpy(r->failures, h->report, sizeof r->failures);
    r->completion_tokens_counted = h->report[QZ_GEN_FAIL_KINDS];
    r->nul_texts = h->report[QZ_GEN_FAIL_KINDS + 1];
    r->model_changed = h->report[QZ_GEN_FAIL_KINDS + 2];
    r->last_failure_at = h->report[QZ_GEN_FAIL_KINDS + 3];
    r->outages = h->outages;
    r->outage_seconds = h->outage_seconds;
    r->nservers = h->nservers; /* at most QZ_CKPT_SERVERS (qz_ckpt_check) */
    for (uint64_t i = 0; i < r->nservers; i++) {
        memcpy(r->servers[i].url, h->servers[i].url, sizeof r->servers[i].url);
        r->servers[i].requests = h->servers[i].requests;
        r->servers[i].failures = h->servers[i].failures;
    }
}

struct qz_gen_stats qz_ckpt_stats(const struct qz_ckpt_header *h)
{
    struct qz_gen_stats st = {h->stats[0], h->stats[1], h->stats[2],
                              h->stats[3], h->stats[4], h->utf8_repaired};
    return st;
}

enum qz_status qz_ckpt_write(MPI_Comm comm, const char *path, struct qz_ckpt_header *h,
                             const struct qz_topset *ts, const struct qz_payloads *pl,
                             struct qz_error *err)
{
    int rank, size, len = 0, io_bad = 0;
    struct section_data d;
    struct qz_ckpt_section *table = NULL;
    struct qz_safefile sf;
    uint64_t mine, before = 0, at;
    char *tmp = NULL;
    MPI_File fh;
    enum qz_status rc;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(&sf, 0, sizeof sf);
    rc = build_section(ts, pl, &d, err);
    if ((rc = qz_agree(comm, rc, err)))
        goto done;

    /* Where each section goes, and the table on the root. */
    mine = qz_ckpt_section_bytes(&d.s);
    MPI_Exscan(&mine, &before, 1, MPI_UINT64_T, MPI_SUM, comm);
    if (rank == 0)
        before = 0;
    d.s.offset = sizeof *h + (uint64_t)size * sizeof *table + before;
    if (rank == 0 && !(table = malloc((size_t)size * sizeof *table)))
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory for a checkpoint's section table");
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    MPI_Gather(&d.s, (int)sizeof d.s, MPI_BYTE, table, (int)sizeof d.s, MPI_BYTE, 0, comm);

    /* The root makes the temporary file; every rank writes into it. */
    if (rank == 0) {
        rc = qz_safefile_begin(path, 0, &sf, err);
        if (rc == QZ_OK && (rc = qz_safefile_close_fd(&sf, err)))
            qz_safefile_abort(&sf);
        len = rc == QZ_OK ? (int)strlen(sf.tmp) + 1 : 0;
    }
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    MPI_Bcast(&len, 1, MPI_INT, 0, comm);
    if (!(tmp = malloc((size_t)len)))
        rc = qz_error_set(err, QZ_ENOMEM, "rank %d: out of memory for a file name", rank);
    if ((rc = qz_agree(comm, rc, err))) {
        if (rank == 0)
            qz_safefile_abort(&sf);
        goto done;
    }
    if (rank == 0)
        memcpy(tmp, sf.tmp, (size_t)len);
    MPI_Bcast(tmp, len, MPI_CHAR, 0, comm);
    if (MPI_File_open(comm, tmp, MPI_MODE_WRONLY, MPI_INFO_NULL, &fh) != MPI_SUCCESS) {
        rc = qz_error_set(err, QZ_EIO, "%s: cannot open the checkpoint's temporary file %s", path,
                          tmp);
        if (rank == 0)
            qz_safefile_abort(&sf);
        rc = qz_agree(comm, rc, err);
        goto done;
    }
    at = d.s.offset;
    io_bad |= write_all(fh, at, ts->e, ts->n * sizeof *ts->e);
    at += ts->n * sizeof *ts->e;
    io_bad |= write_all(fh, at, d.rec, d.s.payloads * sizeof *d.rec);
    at += d.s.payloads * sizeof *d.rec;
    io_bad |= write_all(fh, at, d.text, d.s.text_bytes);
    if (rank == 0) {
        h->ranks = (uint32_t)size;
        h->checksum = qz_ckpt_header_checksum(h, table);
        io_bad |= write_all(fh, 0, h, sizeof *h);
        io_bad |= write_all(fh, sizeof *h, table, (uint64_t)size * sizeof *table);
    }
    io_bad |= MPI_File_close(&fh) != MPI_SUCCESS;
    rc = io_bad ? qz_error_set(err, QZ_EIO, "rank %d: writing checkpoint %s failed (disk full?)",
                               rank, path)
                : QZ_OK;
    rc = qz_agree(comm, rc, err);
    if (rank == 0) {
        if (rc == QZ_OK)
            rc = qz_safefile_commit(&sf, err);
        else
            qz_safefile_abort(&sf);
    }
    rc = qz_agree(comm, rc, err);
done:
    free(tmp);
    free(table);
    free(d.rec);
    free(d.text);
    return rc;
}

/* Root: read the header and table of the checkpoint at path, if there is one. */
static enum qz_status read_head(const char *path, uint64_t job_hash, struct qz_ckpt *ck, int *found,
                                struct qz_error *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t want;
    enum qz_status rc = QZ_OK;

    *found = 0;
    if (fd < 0) {
        if (errno == ENOENT)
            return QZ_OK;
        return qz_error_set(err, QZ_EIO, "checkpoint %s: cannot open: %s", path, strerror(errno));
    }
    *found = 1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return qz_error_set(err, QZ_ECKPT, "checkpoint %s is not a regular file", path);
    }
    if (pread(fd, &ck->h, sizeof ck->h, 0) != (ssize_t)sizeof ck->h ||
        memcmp(ck->h.magic, QZ_CKPT_MAGIC, sizeof ck->h.magic) != 0)
        rc = qz_error_set(err, QZ_ECKPT,
                          "%s is not a quantilize checkpoint (or is cut off): remove it, or "
                          "give the job another checkpoint.path",
                          path);
    else if (ck->h.version != QZ_CKPT_VERSION)
        rc = qz_error_set(err, QZ_ECKPT,
                          "checkpoint %s has format version %u; this quantilize reads version %d",
                          path, ck->h.version, QZ_CKPT_VERSION);
    else if (ck->h.ranks == 0 || ck->h.ranks > QZ_CKPT_RANKS_MAX)
        rc = qz_error_set(err, QZ_ECKPT, "checkpoint %s is damaged (%u sections)", path,
                          ck->h.ranks);
    if (rc) {
        close(fd);
        return rc;
    }
    want = (uint64_t)ck->h.ranks * sizeof *ck->table;
    ck->table = malloc(want);
    if (!ck->table)
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory reading checkpoint %s", path);
    else if (pread(fd, ck->table, want, sizeof ck->h) != (ssize_t)want)
        rc = qz_error_set(err, QZ_ECKPT,
                          "checkpoint %s is truncated (its section table is cut off)", path);
    else if ((rc = qz_ckpt_check(path, (uint64_t)st.st_size, &ck->h, ck->table, err)) == QZ_OK &&
             ck->h.job_hash != job_hash)
        rc = qz_error_set(err, QZ_ECKPT,
                          "checkpoint %s was written by a different job (fields that change "
                          "results differ): remove it to start afresh, or give this job another "
                          "checkpoint.path",
                          path);
    close(fd);
    return rc;
}

enum qz_status qz_ckpt_find(MPI_Comm comm, const char *path, uint64_t job_hash, struct qz_ckpt *ck,
                            int *found, struct qz_error *err)
{
    int rank;
    enum qz_status rc = QZ_OK;

    MPI_Comm_rank(comm, &rank);
    memset(ck, 0, sizeof *ck);
    *found = 0;
    if (rank == 0)
        rc = read_head(path, job_hash, ck, found, err);
    if ((rc = qz_agree(comm, rc, err))) {
        qz_ckpt_free(ck);
        return rc;
    }
    MPI_Bcast(found, 1, MPI_INT, 0, comm);
    if (!*found)
        return QZ_OK;
    MPI_Bcast(&ck->h, (int)sizeof ck->h, MPI_BYTE, 0, comm);
    if (rank != 0 && !(ck->table = malloc(ck->h.ranks * sizeof *ck->table)))
        rc = qz_error_set(err, QZ_ENOMEM, "rank %d: out of memory for a checkpoint's section table",
                          rank);
    if ((rc = qz_agree(comm, rc, err))) {
        qz_ckpt_free(ck);
        return rc;
    }
    MPI_Bcast(ck->table, (int)(ck->h.ranks * sizeof *ck->table), MPI_BYTE, 0, comm);
    return QZ_OK;
}

/* Read section s into memory (malloc'd *buf) and check it. */
static enum qz_status read_section(int fd, const char *path, uint32_t j,
                                   const struct qz_ckpt_section *s, char **buf,
                                   struct qz_error *err)
{
    uint64_t bytes = qz_ckpt_section_bytes(s), ne = s->entries * sizeof(struct qz_entry);
    uint64_t np = s->payloads * sizeof(struct qz_ckpt_payload), c = QZ_CHECKSUM_SEED;
    char *b = malloc(bytes ? bytes : 1);

    *buf = b;
    if (!b)
        return qz_error_set(err, QZ_ENOMEM, "out of memory reading checkpoint %s", path);
    for (uint64_t off = 0; off < bytes;) {
        ssize_t got = pread(fd, b + off, bytes - off, (off_t)(s->offset + off));
        if (got <= 0)
            return qz_error_set(err, QZ_ECKPT, "checkpoint %s: section %u cannot be read: %s", path,
                                j, got < 0 ? strerror(errno) : "the file is cut off");
        off += (uint64_t)got;
    }
    c = qz_checksum(b, ne, c);
    c = qz_checksum(b + ne, np, c);
    c = qz_checksum(b + ne + np, s->text_bytes, c);
    if (c != s->checksum)
        return qz_error_set(err, QZ_ECKPT,
                            "checkpoint %s is damaged (section %u fails its checksum): remove it "
                            "to start the run afresh",
                            path, j);
    return QZ_OK;
}

/* Merge the best-first set b (nb entries, ties cb) into *acc (*na, *ca), keeping k. */
static enum qz_status merge_into(uint64_t seed, size_t k, struct qz_entry **acc, size_t *na,
                                 uint64_t *ca, const struct qz_entry *b, size_t nb, uint64_t cb,
                                 struct qz_error *err)
{
    size_t room = *na + nb < k ? *na + nb : k;
    struct qz_entry *out = malloc((room ? room : 1) * sizeof *out);
    size_t nout;
    uint64_t cout;

    if (!out)
        return qz_error_set(err, QZ_ENOMEM, "out of memory merging a checkpoint's top sets");
    qz_topset_merge(seed, k, *acc, *na, *ca, b, nb, cb, out, &nout, &cout);
    free(*acc);
    *acc = out;
    *na = nout;
    *ca = cout;
    return QZ_OK;
}

enum qz_status qz_ckpt_load(MPI_Comm comm, const char *path, const struct qz_ckpt *ck,
                            uint64_t seed, size_t k, struct qz_entry **e, size_t *n, uint64_t *ties,
                            struct qz_payloads *pl, struct qz_error *err)
{
    int rank, size, fd = -1;
    enum qz_status rc = QZ_OK;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    *e = NULL;
    *n = 0;
    *ties = 0;
    if ((uint32_t)rank < ck->h.ranks && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        rc = qz_error_set(err, QZ_EIO, "checkpoint %s: rank %d cannot open it: %s", path, rank,
                          strerror(errno));
    for (uint32_t j = (uint32_t)rank; rc == QZ_OK && j < ck->h.ranks; j += (uint32_t)size) {
        const struct qz_ckpt_section *s = &ck->table[j];
        char *buf = NULL;
        if ((rc = read_section(fd, path, j, s, &buf, err)) == QZ_OK)
            rc = qz_ckpt_section_check(path, &ck->h, s, buf, k, err);
        if (rc == QZ_OK) {
            struct qz_entry *se = (struct qz_entry *)buf;
            const struct qz_ckpt_payload *rec =
                (const struct qz_ckpt_payload *)(buf + s->entries * sizeof *se);
            const char *text = (const char *)(rec + s->payloads);
            size_t sn = (size_t)s->entries;
            uint64_t sc = s->ties_out;
            for (uint64_t i = 0, off = 0; rc == QZ_OK && pl && i < s->payloads; i++) {
                if (off + rec[i].len > s->text_bytes)
                    rc = qz_error_set(err, QZ_ECKPT, "checkpoint %s: section %u is inconsistent",
                                      path, j);
                else
                    rc = qz_payload_put(pl, rec[i].index, text + off, rec[i].len, rec[i].tokens,
                                        rec[i].logprob_sum, err);
                off += rec[i].len;
            }
            if (rc == QZ_OK) {
                qz_entries_sort(se, sn, seed);
                qz_topset_truncate(se, &sn, &sc, k);
                rc = merge_into(seed, k, e, n, ties, se, sn, sc, err);
            }
        }
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    if (rc == QZ_OK && pl)
        rc = qz_payload_retain(pl, *e, *n, err);
    if ((rc = qz_agree(comm, rc, err))) {
        free(*e);
        *e = NULL;
        *n = 0;
    }
    return rc;
}

void qz_ckpt_free(struct qz_ckpt *ck)
{
    free(ck->table);
    ck->table = NULL;
}

void qz_ckpt_remove(const char *path)
{
    char *ledger = qz_side_path(path, NULL, QZ_SIDE_LEDGER);
    unlink(path);
    if (ledger)
        unlink(ledger);
    free(ledger);
}

#define QZ_LEDGER_FIELDS 9

static const char *const ledger_names[QZ_LEDGER_FIELDS] = {
    "job_hash", "task",    "follows_checkpoint", "samples_drawn_since", "samples_redone",
    "requests", "retries", "prompt_tokens",      "completion_tokens"};

static void ledger_values(const struct qz_ledger *l, uint64_t v[QZ_LEDGER_FIELDS])
{
    const uint64_t in[QZ_LEDGER_FIELDS] = {l->job_hash,    l->task,           l->follows,
                                           l->drawn_since, l->samples_redone, l->requests,
                                           l->retries,     l->prompt_tokens,  l->completion_tokens};
    memcpy(v, in, sizeof in);
}

int qz_ledger_write(const char *ckpt_path, const struct qz_ledger *l)
{
    char *path = qz_side_path(ckpt_path, NULL, QZ_SIDE_LEDGER), *tmp = NULL;
    uint64_t v[QZ_LEDGER_FIELDS];
    FILE *f = NULL;
    int ok = 0;

    ledger_values(l, v);
    if (path && (tmp = malloc(strlen(path) + 8)))
        sprintf(tmp, "%s.tmp", path);
    if (tmp && (f = fopen(tmp, "w"))) {
        ok = fprintf(f, "quantilize ledger 1\n") > 0;
        for (int i = 0; i < QZ_LEDGER_FIELDS; i++)
            ok &= fprintf(f, "%s %llu\n", ledger_names[i], (unsigned long long)v[i]) > 0;
        ok &= fclose(f) == 0;
        ok = ok && rename(tmp, path) == 0;
        if (!ok)
            unlink(tmp);
    }
    free(tmp);
    free(path);
    return ok ? 0 : -1;
}

int qz_ledger_read(const char *ckpt_path, struct qz_ledger *l)
{
    char *path = qz_side_path(ckpt_path, NULL, QZ_SIDE_LEDGER), line[128], name[64];
    uint64_t v[QZ_LEDGER_FIELDS];
    unsigned seen = 0;
    FILE *f = path ? fopen(path, "r") : NULL;

    free(path);
    if (!f)
        return 0;
    if (!fgets(line, sizeof line, f) || strcmp(line, "quantilize ledger 1\n") != 0) {
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f)) {
        unsigned long long x;
        if (sscanf(line, "%63s %llu", name, &x) != 2)
            continue;
        for (int i = 0; i < QZ_LEDGER_FIELDS; i++)
            if (strcmp(name, ledger_names[i]) == 0) {
                v[i] = x;
                seen |= 1u << i;
            }
    }
    fclose(f);
    if (seen != (1u << QZ_LEDGER_FIELDS) - 1)
        return 0;
    *l = (struct qz_ledger){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
    return 1;
}
