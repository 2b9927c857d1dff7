/* The names of the files a run keeps beside its record file. Users see these names
 * (README: checkpoints, archives, the lock) and have such files on disk from earlier
 * versions, so they never change. All calls are local. */
#ifndef QZ_SIDEFILE_H
#define QZ_SIDEFILE_H

enum qz_side {
    QZ_SIDE_CKPT,    /* OUT.RUN.ckpt: the run's checkpoint, unless the job names one */
    QZ_SIDE_STAGING, /* OUT.RUN.samples.tmp: an archive's staging file */
    QZ_SIDE_TEXTS,   /* FILE.text: the texts of the staging file FILE (run NULL) */
    QZ_SIDE_LOCK,    /* OUT.lock: held while the record file OUT is updated (run NULL) */
    QZ_SIDE_RESERVE, /* FILE.reserve: disk space kept for the temporary file FILE (run NULL) */
    QZ_SIDE_LEDGER,  /* CKPT.ledger: work done since the checkpoint CKPT (run NULL) */
    QZ_SIDE_RUNS,    /* OUT.runs/: the directory of the record OUT's run files (run NULL) */
};

/* The side file `kind` of `file` (the record file OUT, or the file named above), and of
 * run `run` for the kinds that belong to a run (the run is ignored for the others).
 * malloc'd, caller frees; NULL when out of memory. */
char *qz_side_path(const char *file, const char *run, enum qz_side kind);

#endif
