#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *qz_strerror(enum qz_status code)
{
    switch (code) {
    case QZ_OK:
        return "success";
    case QZ_EARGS:
        return "bad arguments";
    case QZ_EJOB:
        return "bad job";
    case QZ_EEXISTS:
        return "run already exists";
    case QZ_EIO:
        return "I/O error";
    case QZ_EHDF5:
        return "HDF5 error";
    case QZ_ENOMEM:
        return "out of memory";
    case QZ_EINVALID:
        return "invalid sample";
    case QZ_EMPI:
        return "MPI error";
    case QZ_EINTERNAL:
        return "internal error";
    case QZ_ECKPT:
        return "bad checkpoint";
    case QZ_ESTOPPED:
        return "stopped after a checkpoint";
    case QZ_EOUTAGE:
        return "model servers down";
    }
    return "unknown error";
}

int qz_exit_status(enum qz_status code)
{
    switch (code) {
    case QZ_OK:
        return 0;
    case QZ_EARGS:
    case QZ_EJOB:
    case QZ_EEXISTS:
    case QZ_ECKPT:
        return 2;
    case QZ_ESTOPPED:
    case QZ_EOUTAGE:
        return QZ_EXIT_REQUEUE;
    case QZ_EIO:
    case QZ_EHDF5:
    case QZ_ENOMEM:
    case QZ_EINVALID:
    case QZ_EMPI:
    case QZ_EINTERNAL:
        return 1;
    }
    return 1;
}

enum qz_status qz_error_set(struct qz_error *err, enum qz_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void qz_error_clear(struct qz_error *err)
{
    if (err) {
        err->code = QZ_OK;
        err->msg[0] = '\0';
    }
}

void qz_warn(const char *fmt, ...)
{
    char line[QZ_ERROR_MSG_MAX + 64];
    size_t len = (size_t)snprintf(line, sizeof line, "quantilize: ");
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line + len, sizeof line - len - 1, fmt, ap);
    va_end(ap);
    len = strlen(line);
    line[len++] = '\n';
    if (write(STDERR_FILENO, line, len) < 0) {
        /* nowhere left to report it */
    }
}
