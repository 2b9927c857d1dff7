#include "runname.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

#define STR_(x) #x
#define STR(x) STR_(x)

enum problem { NAME_OK, NAME_LENGTH, NAME_DOTS, NAME_CHARS, NAME_UTF8 };

/* What is wrong with the name name[0..len). */
static enum problem problem_of(const char *name, size_t len)
{
    if (len == 0 || len > QZ_NAME_MAX)
        return NAME_LENGTH;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return NAME_DOTS;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c < 0x20 || c == 0x7f)
            return NAME_CHARS;
        /* C1 controls U+0080 .. U+009F: 0xC2 0x80 .. 0xC2 0x9F in UTF-8. */
        if (c == 0xc2 && i + 1 < len && (unsigned char)name[i + 1] >= 0x80 &&
            (unsigned char)name[i + 1] <= 0x9f)
            return NAME_CHARS;
    }
    return qz_utf8_valid(name, len) ? NAME_OK : NAME_UTF8;
}

const char *qz_name_problem(const char *name)
{
    switch (problem_of(name, strlen(name))) {
    case NAME_OK:
        return NULL;
    case NAME_LENGTH:
        return "must be 1 to " STR(QZ_NAME_MAX) " characters";
    case NAME_DOTS:
        return "must not be \".\" or \"..\"";
    case NAME_CHARS:
        return "must not contain '/' or control characters";
    case NAME_UTF8:
        return "must be valid UTF-8";
    }
    return "is not a valid name";
}

enum qz_status qz_run_path_check(const char *file, const char *run, int nested,
                                 struct qz_error *err)
{
    const char *part = run;
    enum problem p = run && *run ? NAME_OK : NAME_LENGTH;
    int shape = p != NAME_OK || (!nested && strchr(run, '/'));

    while (!shape && part) {
        const char *slash = strchr(part, '/');
        size_t len = slash ? (size_t)(slash - part) : strlen(part);
        p = problem_of(part, len);
        shape = p == NAME_DOTS || (p == NAME_LENGTH && len == 0);
        part = p == NAME_OK && slash ? slash + 1 : NULL;
    }
    if (shape)
        return qz_error_set(err, QZ_EARGS,
                            "%s: run name \"%s\" cannot be an HDF5 group name (it is empty, "
                            "\".\", \"..\", has an empty part or contains '/')",
                            file, run ? run : "");
    if (p == NAME_LENGTH)
        return qz_error_set(err, QZ_EARGS, "%s: run name \"%s\": %s be 1 to %d characters", file,
                            run, nested ? "each part must" : "must", QZ_NAME_MAX);
    if (p == NAME_CHARS)
        return qz_error_set(err, QZ_EARGS,
                            "%s: run name \"%s\" must not contain control characters", file, run);
    if (p == NAME_UTF8)
        return qz_error_set(err, QZ_EARGS, "%s: run name is not valid UTF-8", file);
    return QZ_OK;
}

void qz_name_derive(char *out, size_t cap, const char *run, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (cap == 0)
        return;
    n = snprintf(out, cap, "%.*s", QZ_NAME_DERIVE_KEEP, run);
    if (n >= 0 && (size_t)n < cap) {
        va_start(ap, fmt);
        vsnprintf(out + n, cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    for (char *p = out; *p; p++)
        *p = *p == '/' ? '-' : *p;
}
