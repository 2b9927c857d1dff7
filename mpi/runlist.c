#include "runlist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5util.h"
#include "utf8.h"

#define RUN_PATH_MAX 4096
#define NAME_SHOWN 256 /* characters of a run name in a message */

/* A run name as a message shows it: control characters escaped (utf8.h), cut to
 * NAME_SHOWN characters. Names come from the file: anyone may have written them. */
static const char *shown_name(const char *name, char out[4 * NAME_SHOWN + 8])
{
    qz_utf8_escape(name, strlen(name), NAME_SHOWN, out, 4 * NAME_SHOWN + 8);
    return out;
}

/* A group already entered: its file and address. */
struct seen {
    unsigned long fileno;
    haddr_t addr;
};

struct walk_state {
    struct qz_runlist *list;
    struct seen *seen;
    size_t nseen;
    const char *path; /* the record file, for warnings */
    int warn;         /* say so when a cycle is cut */
    int nomem;
};

struct walk {
    struct walk_state *st;
    const char *prefix; /* "" under /runs, "NAME/tasks/" under a job's tasks */
    int depth;
};

/* Remember group g; 1 if it was entered before (a cycle), 0 if new, -1 on failure. */
static int seen_before(struct walk_state *st, hid_t g)
{
    H5O_info_t oi;
    struct seen *grown;

    if (H5Oget_info2(g, &oi, H5O_INFO_BASIC) < 0)
        return -1;
    for (size_t i = 0; i < st->nseen; i++)
        if (st->seen[i].fileno == oi.fileno && st->seen[i].addr == oi.addr)
            return 1;
    if (!(grown = realloc(st->seen, (st->nseen + 1) * sizeof *grown))) {
        st->nomem = 1;
        return -1;
    }
    st->seen = grown;
    st->seen[st->nseen].fileno = oi.fileno;
    st->seen[st->nseen++].addr = oi.addr;
    return 0;
}

static int add(struct walk *w, const char *name, const char *file, const char *obj)
{
    struct qz_runlist *l = w->st->list;
    size_t len = strlen(w->prefix) + strlen(name) + 1, n = l->n + 1;
    char **gn = realloc(l->name, n * sizeof *gn);
    char **gf = gn ? realloc(l->file, n * sizeof *gf) : NULL;
    char **go = gf ? realloc(l->obj, n * sizeof *go) : NULL;
    char *s = malloc(len), *f = file ? strdup(file) : NULL, *o = obj ? strdup(obj) : NULL;

    if (gn)
        l->name = gn;
    if (gf)
        l->file = gf;
    if (go)
        l->obj = go;
    if (!go || !s || (file && !f) || (obj && !o)) {
        free(s);
        free(f);
        free(o);
        w->st->nomem = 1;
        return -1;
    }
    snprintf(s, len, "%s%s", w->prefix, name);
    l->name[l->n] = s;
    l->file[l->n] = f;
    l->obj[l->n++] = o;
    return 0;
}

/* An external link's file and object names (pointers into buf, which the caller
 * frees). -1 when it cannot be read. */
static int read_elink(hid_t parent, const char *name, size_t size, char **buf, const char **file,
                      const char **obj)
{
    unsigned flags;

    *buf = malloc(size + 1);
    if (!*buf || H5Lget_val(parent, name, *buf, size, H5P_DEFAULT) < 0 ||
        H5Lunpack_elink_val(*buf, size, &flags, file, obj) < 0)
        return -1;
    return 0;
}

static herr_t walk_cb(hid_t parent, const char *name, const H5L_info_t *info, void *data)
{
    struct walk *w = data;
    hid_t run = H5I_INVALID_HID, tasks = H5I_INVALID_HID;
    int has_tasks, is_run, cycle;
    herr_t rc = 0;

    if (info->type == H5L_TYPE_EXTERNAL) {
        char *buf = NULL;
        const char *file = NULL, *obj = NULL;
        rc = read_elink(parent, name, info->u.val_size, &buf, &file, &obj) < 0
                 ? add(w, name, "?", "?")
                 : add(w, name, file, obj);
        free(buf);
        return rc;
    }
    if (info->type != H5L_TYPE_HARD)
        return 0;
    if ((run = H5Gopen2(parent, name, H5P_DEFAULT)) < 0)
        return add(w, name, NULL, NULL); /* not a group: listed, and shown as unreadable */
    has_tasks = H5Lexists(run, "tasks", H5P_DEFAULT) > 0;
    is_run = !has_tasks || H5Aexists(run, "samples") > 0;
    if (is_run && add(w, name, NULL, NULL) < 0)
        rc = -1;
    if (rc == 0 && has_tasks && (tasks = H5Gopen2(run, "tasks", H5P_DEFAULT)) >= 0) {
        char prefix[RUN_PATH_MAX];
        struct walk inner = {w->st, prefix, w->depth + 1};
        snprintf(prefix, sizeof prefix, "%s%s/tasks/", w->prefix, name);
        cycle = seen_before(w->st, tasks);
        if (cycle < 0)
            rc = -1;
        else if (cycle > 0 || inner.depth > QZ_RUNLIST_DEPTH ||
                 strlen(prefix) + 1 >= sizeof prefix) {
            char safe[4 * NAME_SHOWN + 8];
            if (w->st->warn)
                qz_warn("%s: /runs/%s leads back to a group already listed (a link cycle) or "
                        "lies too deep: not followed",
                        w->st->path, shown_name(prefix, safe));
        } else
            rc = H5Literate(tasks, H5_INDEX_NAME, H5_ITER_INC, NULL, walk_cb, &inner) < 0 ? -1 : 0;
        H5Gclose(tasks);
    }
    H5Gclose(run);
    return rc;
}

static enum qz_status read_list(hid_t file, const char *path, struct qz_runlist *list, int warn,
                                struct qz_error *err)
{
    struct walk_state st = {list, NULL, 0, path, warn, 0};
    struct walk w = {&st, "", 0};
    htri_t has_runs = H5Lexists(file, "runs", H5P_DEFAULT);
    hid_t runs;
    herr_t rc = 0;

    memset(list, 0, sizeof *list);
    if (has_runs == 0)
        return QZ_OK;
    if (has_runs < 0 || (runs = H5Gopen2(file, "runs", H5P_DEFAULT)) < 0)
        return qz_error_set(err, QZ_EHDF5, "%s: cannot read /runs", path);
    if (seen_before(&st, runs) < 0)
        rc = -1;
    else
        rc = H5Literate(runs, H5_INDEX_NAME, H5_ITER_INC, NULL, walk_cb, &w);
    H5Gclose(runs);
    free(st.seen);
    if (st.nomem)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory listing the runs", path);
    if (rc < 0)
        return qz_error_set(err, QZ_EHDF5, "%s: cannot list the runs under /runs", path);
    return QZ_OK;
}

enum qz_status qz_runlist_read(hid_t file, const char *path, struct qz_runlist *list,
                               struct qz_error *err)
{
    return read_list(file, path, list, 1, err);
}

/* Whether the linked file `file` (relative to the record `path`'s directory unless
 * absolute) exists. */
static int linked_file_exists(const char *path, const char *file)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash && file[0] != '/' ? (size_t)(slash - path) + 1 : 0;
    char *full = malloc(n + strlen(file) + 1);
    struct stat st;
    int exists;

    if (!full)
        return 1;
    memcpy(full, path, n);
    strcpy(full + n, file);
    exists = stat(full, &st) == 0 || errno != ENOENT;
    free(full);
    return exists;
}

/* Whether the file that holds obj is a quantilize run file (or an old record). */
static int is_run_file(hid_t obj)
{
    hid_t f = H5Iget_file_id(obj);
    char *format = NULL;
    int found = 0, ok;

    if (f < 0)
        return 0;
    ok = qz_h5_read_string_attr(f, "format", &format, &found) == QZ_OK && found && format &&
         (strcmp(format, QZ_RUN_FORMAT_NAME) == 0 || strcmp(format, "quantilize") == 0);
    free(format);
    H5Fclose(f);
    return ok;
}

enum qz_status qz_runlist_check(hid_t file, const char *path, const struct qz_runlist *list,
                                struct qz_error *err)
{
    hid_t runs = H5I_INVALID_HID, obj;
    enum qz_status rc = QZ_OK;
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    for (size_t i = 0; i < list->n && !rc; i++) {
        char safe[4 * NAME_SHOWN + 8];
        if (!list->file[i])
            continue;
        if (runs < 0 && (runs = H5Gopen2(file, "runs", H5P_DEFAULT)) < 0)
            return qz_error_set(err, QZ_EHDF5, "%s: cannot read /runs", path);
        obj = H5Oopen(runs, list->name[i], H5P_DEFAULT);
        if (obj < 0 && !linked_file_exists(path, list->file[i]))
            rc = qz_error_set(err, QZ_EARGS,
                              "%s: run \"%s\": linked file %s is missing (moved without "
                              "%s.runs/?)",
                              path, shown_name(list->name[i], safe), list->file[i], base);
        else if (obj < 0 || H5Iget_type(obj) != H5I_GROUP || !is_run_file(obj))
            rc = qz_error_set(err, QZ_EARGS,
                              "%s: run \"%s\": linked file %s is not a quantilize run file (or "
                              "has no %s)",
                              path, shown_name(list->name[i], safe), list->file[i], list->obj[i]);
        if (obj >= 0)
            H5Oclose(obj);
    }
    if (runs >= 0)
        H5Gclose(runs);
    return rc;
}

enum qz_status qz_runlist_verify(hid_t file, const char *path, struct qz_error *err)
{
    struct qz_runlist list;
    enum qz_status rc = read_list(file, path, &list, 0, err);

    if (!rc)
        rc = qz_runlist_check(file, path, &list, err);
    qz_runlist_free(&list);
    return rc;
}

int qz_runlist_under(const char *name, const char *run)
{
    size_t len = strlen(run);

    return strcmp(name, run) == 0 ||
           (strncmp(name, run, len) == 0 && strncmp(name + len, "/tasks/", 7) == 0);
}

int qz_runlist_split(struct qz_runlist *all, const char *run, const char *also,
                     struct qz_runlist *dropped)
{
    size_t kept = 0;

    memset(dropped, 0, sizeof *dropped);
    dropped->name = malloc((all->n + 1) * sizeof *dropped->name);
    dropped->file = malloc((all->n + 1) * sizeof *dropped->file);
    dropped->obj = malloc((all->n + 1) * sizeof *dropped->obj);
    if (!dropped->name || !dropped->file || !dropped->obj)
        return -1;
    for (size_t i = 0; i < all->n; i++) {
        const char *s = all->name[i];
        if (qz_runlist_under(s, run) || qz_runlist_under(run, s) ||
            (also && qz_runlist_under(s, also))) {
            dropped->name[dropped->n] = all->name[i];
            dropped->file[dropped->n] = all->file[i];
            dropped->obj[dropped->n++] = all->obj[i];
        } else {
            all->name[kept] = all->name[i];
            all->file[kept] = all->file[i];
            all->obj[kept++] = all->obj[i];
        }
    }
    all->n = kept;
    return 0;
}

void qz_runlist_filter(struct qz_runlist *list, const char *run, int *found)
{
    size_t kept = 0;

    for (size_t i = 0; i < list->n; i++) {
        if (qz_runlist_under(list->name[i], run)) {
            list->name[kept] = list->name[i];
            list->file[kept] = list->file[i];
            list->obj[kept++] = list->obj[i];
        } else {
            free(list->name[i]);
            free(list->file[i]);
            free(list->obj[i]);
        }
    }
    list->n = kept;
    *found = kept > 0;
}

void qz_runlist_free(struct qz_runlist *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->name[i]);
        free(list->file[i]);
        free(list->obj[i]);
    }
    free(list->name);
    free(list->file);
    free(list->obj);
    memset(list, 0, sizeof *list);
}
