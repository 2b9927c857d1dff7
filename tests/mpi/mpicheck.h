/* A small check harness for the C tests that run under MPI: CHECK(cond) records a
 * failure with its line (and the rank, once main has set `rank`) and goes on; the
 * file helpers read back what a test wrote. Each test's main prints the tally. */
#ifndef QZ_MPICHECK_H
#define QZ_MPICHECK_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, rank;

#define CHECK(cond) check((cond), #cond, __LINE__)

static inline void check(int ok, const char *what, int line)
{
    if (!ok) {
        fprintf(stderr, "rank %d: FAIL line %d: %s\n", rank, line, what);
        failures++;
    }
}

/* The whole file in a malloc'd buffer (NULL if unreadable); *len its size. */
static inline char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    *len = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
        *len = (size_t)n;
    fclose(f);
    return buf;
}

/* Temporary files ("*.tmp.*") left in dir; -1 when dir cannot be read. */
static inline int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

#endif
