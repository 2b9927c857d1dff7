/* The record's figures, in one table: every scalar attribute of a run (/runs/NAME and
 * its selected/ group) with its HDF5 type, units, meaning, the label people read,
 * the section it is shown in and where its value comes from. The writer
 * (mpi/output.c), `inspect`, `inspect --json` and `report` all walk this table, and a
 * test checks the README's run-attribute table against it: adding a figure is one
 * row here plus the code that computes it.
 *
 * The table's order is the order people read: `inspect` and `report` show the
 * sections in table order (the selected sample's payload after QZ_SECTION_SELECTED).
 * Datasets (top/, sweep/, samples/, selected/payload) are not in it. Local, const. */
#ifndef QZ_FIELDS_H
#define QZ_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

/* The stored type, fixed little-endian in the file (mpi/h5util.h maps it): uint64,
 * float64, int32 or a variable-length UTF-8 string. */
enum qz_field_type { QZ_FIELD_U64, QZ_FIELD_F64, QZ_FIELD_I32, QZ_FIELD_STR };

/* The group of the run that holds the attribute. */
enum qz_field_group { QZ_GROUP_RUN, QZ_GROUP_SELECTED };

/* Where a figure is shown, in this order (the table is sorted by it). */
enum qz_field_section {
    QZ_SECTION_RUN,        /* what was asked and what came out */
    QZ_SECTION_SAFETY,     /* the quantilized distribution's figures */
    QZ_SECTION_SELECTED,   /* the selected sample (selected/) */
    QZ_SECTION_TIMING,     /* ranks, times, memory */
    QZ_SECTION_CHECKPOINT, /* checkpoints and resumes */
    QZ_SECTION_GENERATOR,  /* what the generator counted and sent */
    QZ_SECTION_SOURCE,     /* runs made by `select`: where the samples came from */
    QZ_SECTION_PROVENANCE, /* where and with what the run was made */
    QZ_SECTION_JOB,        /* the job itself */
    QZ_SECTIONS
};

/* When the writer writes the attribute. */
enum qz_field_when {
    QZ_WHEN_ALWAYS,   /* every run */
    QZ_WHEN_COST,     /* a cost scorer was configured (has_cost) */
    QZ_WHEN_STATS,    /* the generator counted requests (has_stats) */
    QZ_WHEN_REPORT,   /* the generator reports about its server (has_report) */
    QZ_WHEN_LOGPROBS, /* text samples with token log-probs (text && has_logprobs) */
    QZ_WHEN_SET,      /* the string is set: not NULL (an inline string: not empty) */
    QZ_WHEN_PRICE,    /* the generator reports a price (has_report && report.has_price) */
    QZ_WHEN_COMMIT    /* written when the record is committed (write_seconds) */
};

/* How people read the value. */
enum qz_field_show {
    QZ_SHOW_COUNT,   /* a whole number */
    QZ_SHOW_EXACT,   /* the shortest text that reads back as the same double */
    QZ_SHOW_RATE,    /* 3 significant digits, then the units */
    QZ_SHOW_SECONDS, /* a duration: "42.5 s", "3 min 7.2 s" */
    QZ_SHOW_BYTES,   /* in MiB */
    QZ_SHOW_TEXT,    /* a string as it is */
    QZ_SHOW_JOB,     /* the job's JSON (parsed by inspect --json, cut short by inspect) */
    QZ_SHOW_HIDDEN   /* not listed as a figure: shown elsewhere (top_stored with the top
                        set, the run's copies of selected/'s position and index) */
};

/* A value computed from the record instead of read at `offset`: writes the value
 * (a uint64_t, double or int per type, or a const char * for a string) to out. */
typedef void (*qz_field_get)(const struct qz_record *rec, void *out);

struct qz_field {
    const char *name; /* the HDF5 attribute name */
    enum qz_field_type type;
    const char *units;       /* or NULL */
    const char *description; /* what it means, in a few words */
    const char *label;       /* what inspect and report call it */
    enum qz_field_section section;
    enum qz_field_group group;
    enum qz_field_when when;
    enum qz_field_show show;
    size_t offset;    /* of the value in struct qz_record, unless get */
    int inline_chars; /* a QZ_FIELD_STR held as a char array at offset (else a pointer) */
    qz_field_get get; /* or NULL */
};

extern const struct qz_field qz_record_fields[];
extern const size_t qz_record_nfields;

/* The row of attribute `name` in `group`, or NULL. */
const struct qz_field *qz_field_find(enum qz_field_group group, const char *name);

/* Whether rec has the field (its `when` rule; QZ_WHEN_COMMIT fields count as absent:
 * the commit writes them). */
int qz_field_present(const struct qz_field *f, const struct qz_record *rec);

/* The field's value in rec: for numbers, stores a uint64_t, double or int (per
 * f->type) at out; for strings returns the string (NULL when unset). */
const char *qz_field_value(const struct qz_field *f, const struct qz_record *rec, void *out);

/* The section's heading for people ("safety", "provenance", ...). */
const char *qz_field_section_name(enum qz_field_section s);

#endif
