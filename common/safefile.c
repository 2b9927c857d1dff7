#define _XOPEN_SOURCE 700 /* realpath */
#include "safefile.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sidefile.h"

#define COPY_BUFFER_SIZE (1u << 20)
#define TEMP_ATTEMPTS 100

/* *exists and *mode (permission bits) of path; see qz_safefile_target. */
static enum qz_status stat_target(const char *path, int *exists, mode_t *mode, struct qz_error *err)
{
    struct stat st;

    *exists = 0;
    *mode = 0;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return QZ_OK;
        return qz_error_set(err, QZ_EIO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return qz_error_set(err, QZ_EARGS, "%s: not a regular file", path);
    *exists = 1;
    *mode = st.st_mode & 07777;
    return QZ_OK;
}

enum qz_status qz_safefile_target(const char *path, int *exists, struct qz_error *err)
{
    mode_t mode;

    return stat_target(path, exists, &mode, err);
}

/* The directory part of path, "." when it has none; malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    char *dir;

    if (!slash)
        return strdup(".");
    if (n == 0)
        n = 1; /* "/x" lives in "/" */
    dir = malloc(n + 1);
    if (dir) {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return dir;
}

enum qz_status qz_safefile_check_dir(const char *path, struct qz_error *err)
{
    struct stat st;
    char *dir = dir_of(path);
    enum qz_status rc = QZ_OK;

    if (!dir)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    if (stat(dir, &st) != 0)
        rc = qz_error_set(err, QZ_EARGS, "%s: directory %s: %s", path, dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = qz_error_set(err, QZ_EARGS, "%s: %s is not a directory", path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = qz_error_set(err, QZ_EARGS, "%s: directory %s is not writable: %s", path, dir,
                          strerror(errno));
    free(dir);
    return rc;
}

void qz_safefile_host(char *buf, size_t size)
{
    char host[256] = "";
    size_t n = 0;

    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        strcpy(host, "localhost");
    for (const char *c = host; *c && n + 1 < size && n < 40; c++)
        buf[n++] =
            ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))
                ? *c
                : '_';
    buf[n] = '\0';
}

enum qz_status qz_safefile_check_writable(const char *path, struct qz_error *err)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return QZ_OK; /* nothing to replace */
    if (st.st_uid == geteuid() && !(st.st_mode & S_IWUSR))
        return qz_error_set(err, QZ_EARGS,
                            "%s: the file is read-only (mode %04o): not replaced (chmod u+w "
                            "it to write to it)",
                            path, (unsigned)(st.st_mode & 07777));
    if (access(path, W_OK) != 0)
        return qz_error_set(err, QZ_EARGS,
                            "%s: not writable by you (owner uid %u, mode %04o): not replaced", path,
                            (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    return QZ_OK;
}

/* Whether `rest` (what follows "<base>.tmp.") names a temporary file of a process of
 * this host that is gone: "<pid>@<host>", then maybe ".<n>" and ".reserve". */
static int stale_temp(const char *rest, const char *host)
{
    char *end;
    long pid = strtol(rest, &end, 10);
    size_t hl = strlen(host);

    if (end == rest || pid <= 0 || *end != '@' || strncmp(end + 1, host, hl) != 0 ||
        (end[1 + hl] != '\0' && end[1 + hl] != '.'))
        return 0;
    return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

void qz_safefile_clean(const char *path, int locked)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    char *dir = dir_of(path), host[48], prefix[1024];
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;

    qz_safefile_host(host, sizeof host);
    snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    while (d && (e = readdir(d))) {
        size_t n = strlen(prefix);
        char *full;
        if (strncmp(e->d_name, prefix, n) != 0 || !(locked || stale_temp(e->d_name + n, host)))
            continue;
        if ((full = malloc(strlen(dir) + strlen(e->d_name) + 2))) {
            sprintf(full, "%s/%s", dir, e->d_name);
            unlink(full);
            free(full);
        }
    }
    if (d)
        closedir(d);
    free(dir);
}

/* Create `<path>.tmp.<pid>@<host>` (or .1, .2, ... after it should a stale one exist). */
static enum qz_status make_temp(const char *path, char **tmp, int *fd, struct qz_error *err)
{
    size_t n = strlen(path) + 96;
    char *name = malloc(n), host[48];
    int e = 0;

    if (!name)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    qz_safefile_host(host, sizeof host);
    for (unsigned attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
        if (attempt == 0)
            snprintf(name, n, "%s.tmp.%ld@%s", path, (long)getpid(), host);
        else
            snprintf(name, n, "%s.tmp.%ld@%s.%u", path, (long)getpid(), host, attempt);
        *fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (*fd >= 0) {
            *tmp = name;
            return QZ_OK;
        }
        e = errno;
        if (e != EEXIST)
            break;
    }
    enum qz_status rc = qz_error_set(err, QZ_EIO, "%s: cannot create temporary file %s: %s", path,
                                     name, strerror(e));
    free(name);
    return rc;
}

/* Write all of buf; QZ_EIO with errno set when a write fails. */
static enum qz_status write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return QZ_EIO;
        buf += w;
        n -= (size_t)w;
    }
    return QZ_OK;
}

/* Copy path byte for byte onto fd (the temporary file tmp). */
static enum qz_status copy_file(const char *path, int fd, const char *tmp, struct qz_error *err)
{
    char *buf = malloc(COPY_BUFFER_SIZE);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    enum qz_status rc = QZ_OK;

    if (!buf)
        rc = qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    else if (in < 0)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot open: %s", path, strerror(errno));
    while (rc == QZ_OK) {
        ssize_t r = read(in, buf, COPY_BUFFER_SIZE);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = qz_error_set(err, QZ_EIO, "%s: cannot read: %s", path, strerror(errno));
        else if (r == 0)
            break;
        else if (write_all(fd, buf, (size_t)r) != QZ_OK)
            rc = qz_error_set(err, QZ_EIO, "%s: cannot write temporary file %s: %s", path, tmp,
                              strerror(errno));
    }
    if (in >= 0 && close(in) != 0 && rc == QZ_OK)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot close: %s", path, strerror(errno));
    free(buf);
    return rc;
}

enum qz_status qz_safefile_begin(const char *path, int copy_existing, struct qz_safefile *sf,
                                 struct qz_error *err)
{
    enum qz_status rc;

    struct stat st;

    memset(sf, 0, sizeof *sf);
    sf->fd = -1;
    /* A symbolic link is written through: its target is replaced, not the link. */
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        if (!(sf->path = realpath(path, NULL)))
            return qz_error_set(err, QZ_EARGS, "%s: a symbolic link to a missing file (%s)", path,
                                strerror(errno));
    } else if (!(sf->path = strdup(path)))
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    path = sf->path;
    if ((rc = stat_target(path, &sf->existed, &sf->mode, err)) ||
        (sf->existed && (rc = qz_safefile_check_writable(path, err)))) {
        free(sf->path);
        sf->path = NULL;
        return rc;
    }
    qz_safefile_clean(path, 0);
    if ((rc = make_temp(path, &sf->tmp, &sf->fd, err))) {
        free(sf->path);
        sf->path = NULL;
        return rc;
    }
    if (copy_existing && sf->existed && (rc = copy_file(sf->path, sf->fd, sf->tmp, err)))
        qz_safefile_abort(sf);
    return rc;
}

enum qz_status qz_safefile_adopt(const char *path, const char *tmp, struct qz_safefile *sf,
                                 struct qz_error *err)
{
    enum qz_status rc;

    memset(sf, 0, sizeof *sf);
    sf->fd = -1;
    if ((rc = stat_target(path, &sf->existed, &sf->mode, err)))
        return rc;
    sf->path = strdup(path);
    sf->tmp = strdup(tmp);
    if (!sf->path || !sf->tmp) {
        free(sf->path);
        free(sf->tmp);
        memset(sf, 0, sizeof *sf);
        sf->fd = -1;
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    }
    return QZ_OK;
}

enum qz_status qz_safefile_close_fd(struct qz_safefile *sf, struct qz_error *err)
{
    int fd = sf->fd;

    sf->fd = -1;
    if (fd >= 0 && close(fd) != 0)
        return qz_error_set(err, QZ_EIO, "%s: cannot close %s: %s", sf->path, sf->tmp,
                            strerror(errno));
    return QZ_OK;
}

enum qz_status qz_safefile_reserve(const char *tmp, off_t bytes, struct qz_error *err)
{
    char *name = qz_side_path(tmp, NULL, QZ_SIDE_RESERVE);
    int fd, e;
    enum qz_status rc = QZ_OK;

    if (!name)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", tmp);
    fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = qz_error_set(err, QZ_EIO, "cannot create %s: %s", name, strerror(errno));
        free(name);
        return rc;
    }
    e = posix_fallocate(fd, 0, bytes);
    if (e == EINVAL || e == EOPNOTSUPP || e == ENOSYS)
        e = 0; /* this file system cannot reserve: go on without */
    if (e)
        rc = qz_error_set(err, QZ_EIO, "cannot reserve %lld bytes of disk space for %s: %s",
                          (long long)bytes, tmp, strerror(e));
    if (close(fd) != 0 && rc == QZ_OK)
        rc = qz_error_set(err, QZ_EIO, "cannot close %s: %s", name, strerror(errno));
    if (rc)
        unlink(name);
    free(name);
    return rc;
}

void qz_safefile_unreserve(const char *tmp)
{
    char *name = qz_side_path(tmp, NULL, QZ_SIDE_RESERVE);

    if (name)
        unlink(name);
    free(name);
}

enum qz_status qz_safefile_allocate(const char *file, off_t offset, off_t len, struct qz_error *err)
{
    int fd = open(file, O_WRONLY | O_CLOEXEC), e;
    enum qz_status rc = QZ_OK;

    if (fd < 0)
        return qz_error_set(err, QZ_EIO, "%s: cannot open: %s", file, strerror(errno));
    if (offset == QZ_SAFEFILE_END && (offset = lseek(fd, 0, SEEK_END)) < 0) {
        rc = qz_error_set(err, QZ_EIO, "%s: cannot find its end: %s", file, strerror(errno));
        close(fd);
        return rc;
    }
    e = posix_fallocate(fd, offset, len);
    if (e == EINVAL || e == EOPNOTSUPP || e == ENOSYS)
        e = 0; /* this file system cannot allocate: go on without */
    if (e)
        rc = qz_error_set(err, QZ_EIO, "%s: no room for bytes %lld to %lld: %s", file,
                          (long long)offset, (long long)(offset + len - 1), strerror(e));
    else if (fsync(fd) != 0)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot sync: %s", file, strerror(errno));
    if (close(fd) != 0 && rc == QZ_OK)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot close: %s", file, strerror(errno));
    return rc;
}

/* Give tmp the replaced file's mode and flush it to disk. */
static enum qz_status sync_file(struct qz_safefile *sf, struct qz_error *err)
{
    int fd = open(sf->tmp, O_RDONLY | O_CLOEXEC);
    enum qz_status rc = QZ_OK;

    if (fd < 0)
        return qz_error_set(err, QZ_EIO, "%s: cannot reopen %s: %s", sf->path, sf->tmp,
                            strerror(errno));
    if (sf->existed && fchmod(fd, sf->mode) != 0)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot set the mode of %s: %s", sf->path, sf->tmp,
                          strerror(errno));
    else if (fsync(fd) != 0)
        rc =
            qz_error_set(err, QZ_EIO, "%s: cannot sync %s: %s", sf->path, sf->tmp, strerror(errno));
    if (close(fd) != 0 && rc == QZ_OK)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot close %s: %s", sf->path, sf->tmp,
                          strerror(errno));
    return rc;
}

/* Make the rename durable. Some file systems cannot sync a directory (EINVAL). */
static enum qz_status sync_dir(const char *path, struct qz_error *err)
{
    char *dir = dir_of(path);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    enum qz_status rc = QZ_OK;

    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        rc = qz_error_set(err, QZ_EIO, "%s: written, but syncing directory %s failed: %s", path,
                          dir ? dir : "?", dir ? strerror(errno) : "out of memory");
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

enum qz_status qz_safefile_commit(struct qz_safefile *sf, struct qz_error *err)
{
    enum qz_status rc;

    if (!sf->tmp)
        return qz_error_set(err, QZ_EINTERNAL, "%s: nothing to commit",
                            sf->path ? sf->path : "(no file)");
    qz_safefile_unreserve(sf->tmp);
    if ((rc = qz_safefile_close_fd(sf, err)) || (rc = sync_file(sf, err)))
        goto fail;
    if (rename(sf->tmp, sf->path) != 0) {
        rc = qz_error_set(err, QZ_EIO, "%s: cannot rename %s over it: %s", sf->path, sf->tmp,
                          strerror(errno));
        goto fail;
    }
    free(sf->tmp);
    sf->tmp = NULL;
    rc = sync_dir(sf->path, err);
    free(sf->path);
    sf->path = NULL;
    return rc;
fail:
    qz_safefile_abort(sf);
    return rc;
}

void qz_safefile_abort(struct qz_safefile *sf)
{
    if (sf->tmp) {
        if (sf->fd >= 0)
            close(sf->fd);
        qz_safefile_unreserve(sf->tmp);
        unlink(sf->tmp);
        free(sf->tmp);
        sf->tmp = NULL;
    }
    sf->fd = -1;
    free(sf->path);
    sf->path = NULL;
}
