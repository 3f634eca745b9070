/* error.c: filling and prefixing loom_error records. */
#include "loom/error.h"

#include <stdio.h>
#include <string.h>

int loom_verrorf(loom_error *err, loom_status code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return (int)code;
}

int loom_errorf(loom_error *err, loom_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    loom_verrorf(err, code, fmt, ap);
    va_end(ap);
    return (int)code;
}

int loom_error_prefix(loom_error *err, const char *fmt, ...)
{
    if (!err)
        return LOOM_OK;
    char prefix[LOOM_ERROR_MSG_MAX], old[LOOM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n >= sizeof err->msg)
        n = sizeof err->msg - 1;
    memcpy(err->msg, prefix, n);
    size_t rest = strlen(old);
    if (rest > sizeof err->msg - 1 - n)
        rest = sizeof err->msg - 1 - n;
    memcpy(err->msg + n, old, rest);
    err->msg[n + rest] = '\0';
    return (int)err->code;
}

void loom_error_clear(loom_error *err)
{
    if (err) {
        err->code = LOOM_OK;
        err->msg[0] = '\0';
    }
}

const char *loom_status_name(loom_status code)
{
    switch (code) {
    case LOOM_OK:              return "ok";
    case LOOM_ERR_INVALID:     return "invalid";
    case LOOM_ERR_NOT_FOUND:   return "not_found";
    case LOOM_ERR_IO:          return "io";
    case LOOM_ERR_NOMEM:       return "out_of_memory";
    case LOOM_ERR_UNSUPPORTED: return "unsupported";
    case LOOM_ERR_INTERRUPTED: return "interrupted";
    case LOOM_ERR_PLUGIN:      return "plugin";
    case LOOM_ERR_RUNTIME:     return "runtime";
    }
    return "unknown";
}
