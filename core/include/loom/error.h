/* loom/error.h: the error record every fallible loom function fills.
 *
 * A function that can fail returns a status (0 ok, non-zero failure) and writes a
 * message a user can act on into a caller-owned loom_error. Messages name the thing
 * that is wrong (file, node, input, tensor) and, where possible, what to do about it.
 */
#ifndef LOOM_ERROR_H
#define LOOM_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Long enough for a path plus a sentence; longer messages are truncated, never overflow. */
#define LOOM_ERROR_MSG_MAX 1024

typedef enum loom_status {
    LOOM_OK = 0,
    LOOM_ERR_INVALID,      /* malformed input: JSON, workflow, tensor file, argument */
    LOOM_ERR_NOT_FOUND,    /* a file, node class, tensor or input that does not exist */
    LOOM_ERR_IO,           /* the operating system refused: open, read, write, rename */
    LOOM_ERR_NOMEM,        /* an allocation failed */
    LOOM_ERR_UNSUPPORTED,  /* valid input this build cannot handle (dtype, format, CPU) */
    LOOM_ERR_INTERRUPTED,  /* the user asked to stop */
    LOOM_ERR_PLUGIN,       /* a plugin could not be loaded or registered */
    LOOM_ERR_RUNTIME       /* a node failed while executing */
} loom_status;

typedef struct loom_error {
    loom_status code;
    char        msg[LOOM_ERROR_MSG_MAX];
} loom_error;

/* Fill err (may be NULL) and return code, so callers can write `return loom_errorf(...)`. */
int         loom_errorf(loom_error *err, loom_status code, const char *fmt, ...)
                __attribute__((format(printf, 3, 4)));
int         loom_verrorf(loom_error *err, loom_status code, const char *fmt, va_list ap);
/* Prepend context ("node 3 (KSampler): ") to an existing message. */
int         loom_error_prefix(loom_error *err, const char *fmt, ...)
                __attribute__((format(printf, 2, 3)));
void        loom_error_clear(loom_error *err);
const char *loom_status_name(loom_status code);

#ifdef __cplusplus
}
#endif
#endif
