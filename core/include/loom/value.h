/* loom/value.h: refcounted, typed values that flow between nodes.
 *
 * A value is one of the widget kinds (INT, FLOAT, STRING, BOOLEAN) or an object: a
 * pointer with a type name ("MODEL", "LATENT", ...), a destructor and a size in bytes
 * for the cache budget. Values are immutable once made; a node that wants to change
 * one makes a new value. The last unref runs the destructor. Refcounts are atomic, so a
 * value may be shared across threads.
 *
 * Ownership: constructors return a new reference; loom_out steals one; loom_in_* and
 * loom_value_object borrow.
 */
#ifndef LOOM_VALUE_H
#define LOOM_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum loom_kind {
    LOOM_KIND_INT,
    LOOM_KIND_FLOAT,
    LOOM_KIND_STRING,
    LOOM_KIND_BOOL,
    LOOM_KIND_OBJECT
} loom_kind;

typedef struct loom_value loom_value;

loom_value *loom_value_int    (int64_t v);
loom_value *loom_value_u64    (uint64_t v);      /* keeps values above INT64_MAX exact */
loom_value *loom_value_float  (double v);
loom_value *loom_value_string (const char *s);   /* copies s */
loom_value *loom_value_bool   (bool v);
/* Wrap obj; destroy(obj) runs at the last unref. bytes feeds the cache budget. */
loom_value *loom_value_object (const char *type, void *obj, void (*destroy)(void *obj),
                               size_t bytes);

loom_value *loom_value_ref    (const loom_value *v);  /* NULL ok */
void        loom_value_unref  (loom_value *v);        /* NULL ok */

loom_kind   loom_value_kind   (const loom_value *v);
/* "INT", "FLOAT", "STRING", "BOOLEAN" or the object's type. */
const char *loom_value_type   (const loom_value *v);
int64_t     loom_value_get_int  (const loom_value *v);  /* FLOAT truncates, like int() */
uint64_t    loom_value_get_u64  (const loom_value *v);
bool        loom_value_is_u64   (const loom_value *v);  /* INT above INT64_MAX */
double      loom_value_get_float(const loom_value *v);  /* INT converts */
const char *loom_value_get_str  (const loom_value *v);  /* STRING, else NULL */
bool        loom_value_get_bool (const loom_value *v);
/* The payload when v is an object of `type` (NULL type: any); else NULL. */
void       *loom_value_object_ptr(const loom_value *v, const char *type);
size_t      loom_value_bytes    (const loom_value *v);
int         loom_value_refcount (const loom_value *v);  /* for tests and debugging */

#ifdef __cplusplus
}
#endif
#endif
