#include "manage.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "h5util.h"
#include "output.h"
#include "runlist.h"
#include "safefile.h"

enum qz_status qz_manage_rm(const char *path, const char *run, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    struct qz_runlist keep, dropped;
    struct qz_error warn;
    char *legacy = NULL, *legacy_full = NULL;
    int exists = 0, lock_fd = -1, inline_dropped = 0;
    hid_t src = H5I_INVALID_HID;
    enum qz_status rc;

    memset(&keep, 0, sizeof keep);
    memset(&dropped, 0, sizeof dropped);
    qz_h5_silence(&quiet);
    if ((rc = qz_safefile_target(path, &exists, err)))
        goto out;
    if (!exists) {
        rc = qz_error_set(err, QZ_EARGS, "%s: no such file", path);
        goto out;
    }
    if ((rc = qz_output_lock(path, &lock_fd, err)) ||
        (rc = qz_output_list(path, &exists, &keep, err)))
        goto out;
    if (qz_runlist_split(&keep, run, NULL, &dropped) < 0) {
        rc = qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if (dropped.n == 0) {
        rc = qz_error_set(err, QZ_EARGS, "%s: no run \"%s\" in the file", path, run);
        goto out;
    }
    if ((src = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot open", path);
        goto out;
    }
    if (qz_runlist_check(src, path, &keep, &warn))
        qz_warn("%s (kept as it is)", warn.msg);
    for (size_t i = 0; i < dropped.n; i++)
        inline_dropped |= !dropped.file[i];
    /* Inline runs are copied when one of them goes (the space is given back), else
     * linked to the old file kept as a legacy file (no copy). */
    if (!inline_dropped && (rc = qz_output_legacy(path, &keep, &legacy, &legacy_full, err)))
        goto out;
    rc = qz_output_relink(path, src, &keep, legacy, 0, NULL, NULL, NULL, err);
    H5Fclose(src);
    src = H5I_INVALID_HID;
    if (rc && legacy_full)
        unlink(legacy_full);
    if (!rc)
        qz_output_clean(path, &keep, legacy, NULL, &dropped);
out:
    if (src >= 0)
        H5Fclose(src);
    if (lock_fd >= 0)
        close(lock_fd);
    qz_runlist_free(&keep);
    qz_runlist_free(&dropped);
    free(legacy);
    free(legacy_full);
    qz_h5_restore(&quiet);
    return rc;
}

enum qz_status qz_manage_pack(const char *path, const char *out, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    struct qz_runlist list;
    struct stat a, b;
    hid_t src;
    int lock_fd = -1;
    enum qz_status rc;

    memset(&list, 0, sizeof list);
    qz_h5_silence(&quiet);
    if ((rc = qz_output_open(path, &src, err))) {
        qz_h5_restore(&quiet);
        return rc;
    }
    if (stat(path, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        rc = qz_error_set(err, QZ_EARGS, "%s: pack -o names the record itself", out);
    else if (!(rc = qz_safefile_check_dir(out, err)) &&
             !(rc = qz_runlist_read(src, path, &list, err)) &&
             !(rc = qz_output_lock(out, &lock_fd, err)))
        rc = qz_output_relink(out, src, &list, NULL, 1, NULL, NULL, NULL, err);
    if (lock_fd >= 0)
        close(lock_fd);
    qz_runlist_free(&list);
    H5Fclose(src);
    qz_h5_restore(&quiet);
    return rc;
}
