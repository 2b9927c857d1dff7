/* The top set of a record, /runs/<run>/top/: index, utility and (with a cost scorer)
 * cost as one 1-D dataset each, best first, plus the texts and log-probs of a text
 * run. Written either by the root from the whole top set (qz_output_top_serial,
 * inside qz_output_begin) or collectively, each rank its slice, into the temporary
 * file of a transaction (qz_output_write_top; mpi/output.h). */
#ifndef QZ_OUTPUT_TOP_H
#define QZ_OUTPUT_TOP_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>
#include <mpi.h>

#include "error.h"
#include "h5util.h"
#include "record.h"
#include "topset.h"

/* Root, serial file: create top/ in the run group from rec->top (rec->top_count
 * entries) and rec->top_texts; w names the top group for messages. */
enum qz_status qz_output_top_serial(hid_t run, const struct qz_record *rec,
                                    const struct qz_h5_where *w, struct qz_error *err);

/* Collective over comm. Write /runs/<run>/top/{index,utility[,cost]} into the
 * temporary file tmp_path (the root's txn.file.tmp, the same string on every rank)
 * with the MPI-IO driver. The top set of `total` entries (K), best first, is split
 * into consecutive slices in rank order: this rank passes its n entries e[0..n-1],
 * which are global positions offset .. offset+n-1 (n may be 0; e may then be NULL).
 * run, total and has_cost must be the same on every rank. Rank 0 first claims the
 * disk space (Open MPI's OMPIO collective writers do not report a full disk; see
 * output.c); the datasets are contiguous, never prefilled, and written with
 * collective transfers. Every rank returns the same status and message (QZ_EIO no
 * room, QZ_EHDF5, QZ_ENOMEM, QZ_EINTERNAL when the slices do not tile 0 .. total-1):
 * the root then aborts the transaction. */
enum qz_status qz_output_write_top(MPI_Comm comm, const char *tmp_path, const char *run,
                                   const struct qz_entry *e, size_t n, uint64_t offset,
                                   uint64_t total, int has_cost, struct qz_error *err);

/* Root, serial: set the run's peak_rss_bytes_max and peak_rss_bytes_root to max and
 * root in the temporary file tmp_path of a transaction, after everything else of the
 * run is written and before the commit, so that the recorded peak covers the write.
 * QZ_EHDF5 (the root then aborts the transaction). */
enum qz_status qz_output_set_peak_rss(const char *tmp_path, const char *run, uint64_t max,
                                      uint64_t root, struct qz_error *err);

#endif
