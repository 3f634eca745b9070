/* value.c: refcounted typed values (see loom/value.h).
 *
 * One small struct for every kind. INT keeps a flag for numbers above INT64_MAX (seeds
 * go to 2^64-1) so they print and compare exactly. Refcounts use atomic builtins; the
 * value itself never changes after construction.
 */
#include "loom/value.h"

#include <stdlib.h>
#include <string.h>

struct loom_value {
    int       refcount;
    loom_kind kind;
    bool      is_u64;
    union {
        int64_t i;
        uint64_t u;
        double  f;
        bool    b;
        char   *s;
        void   *obj;
    } as;
    const char *type;          /* object type (points into type_buf) */
    void      (*destroy)(void *obj);
    size_t      bytes;
    char        type_buf[];
};

static loom_value *value_alloc(loom_kind kind, const char *type)
{
    size_t tlen = type ? strlen(type) + 1 : 0;
    loom_value *v = calloc(1, sizeof *v + tlen);
    if (!v)
        return NULL;
    v->refcount = 1;
    v->kind = kind;
    if (type) {
        memcpy(v->type_buf, type, tlen);
        v->type = v->type_buf;
    }
    return v;
}

loom_value *loom_value_int(int64_t i)
{
    loom_value *v = value_alloc(LOOM_KIND_INT, NULL);
    if (v)
        v->as.i = i;
    return v;
}

loom_value *loom_value_u64(uint64_t u)
{
    loom_value *v = value_alloc(LOOM_KIND_INT, NULL);
    if (v) {
        v->as.u = u;
        v->is_u64 = u > (uint64_t)INT64_MAX;
    }
    return v;
}

loom_value *loom_value_float(double f)
{
    loom_value *v = value_alloc(LOOM_KIND_FLOAT, NULL);
    if (v)
        v->as.f = f;
    return v;
}

loom_value *loom_value_string(const char *s)
{
    loom_value *v = value_alloc(LOOM_KIND_STRING, NULL);
    if (!v)
        return NULL;
    v->as.s = strdup(s ? s : "");
    if (!v->as.s) {
        free(v);
        return NULL;
    }
    v->bytes = strlen(v->as.s) + 1;
    return v;
}

loom_value *loom_value_bool(bool b)
{
    loom_value *v = value_alloc(LOOM_KIND_BOOL, NULL);
    if (v)
        v->as.b = b;
    return v;
}

loom_value *loom_value_object(const char *type, void *obj, void (*destroy)(void *obj),
                              size_t bytes)
{
    loom_value *v = value_alloc(LOOM_KIND_OBJECT, type ? type : "*");
    if (!v) {
        if (destroy && obj)
            destroy(obj);
        return NULL;
    }
    v->as.obj = obj;
    v->destroy = destroy;
    v->bytes = bytes;
    return v;
}

loom_value *loom_value_ref(const loom_value *cv)
{
    loom_value *v = (loom_value *)cv;
    if (v)
        __atomic_add_fetch(&v->refcount, 1, __ATOMIC_RELAXED);
    return v;
}

void loom_value_unref(loom_value *v)
{
    if (!v || __atomic_sub_fetch(&v->refcount, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    if (v->kind == LOOM_KIND_STRING)
        free(v->as.s);
    else if (v->kind == LOOM_KIND_OBJECT && v->destroy)
        v->destroy(v->as.obj);
    free(v);
}

loom_kind loom_value_kind(const loom_value *v) { return v->kind; }

const char *loom_value_type(const loom_value *v)
{
    switch (v->kind) {
    case LOOM_KIND_INT:    return "INT";
    case LOOM_KIND_FLOAT:  return "FLOAT";
    case LOOM_KIND_STRING: return "STRING";
    case LOOM_KIND_BOOL:   return "BOOLEAN";
    case LOOM_KIND_OBJECT: return v->type;
    }
    return "?";
}

int64_t loom_value_get_int(const loom_value *v)
{
    if (!v)
        return 0;
    switch (v->kind) {
    case LOOM_KIND_INT:   return v->as.i;
    case LOOM_KIND_FLOAT: return (int64_t)v->as.f;
    case LOOM_KIND_BOOL:  return v->as.b;
    default:              return 0;
    }
}

uint64_t loom_value_get_u64(const loom_value *v)
{
    if (v && v->kind == LOOM_KIND_INT)
        return v->as.u;
    return (uint64_t)loom_value_get_int(v);
}

bool loom_value_is_u64(const loom_value *v) { return v && v->is_u64; }

double loom_value_get_float(const loom_value *v)
{
    if (!v)
        return 0;
    switch (v->kind) {
    case LOOM_KIND_FLOAT: return v->as.f;
    case LOOM_KIND_INT:   return v->is_u64 ? (double)v->as.u : (double)v->as.i;
    case LOOM_KIND_BOOL:  return v->as.b;
    default:              return 0;
    }
}

const char *loom_value_get_str(const loom_value *v)
{
    return v && v->kind == LOOM_KIND_STRING ? v->as.s : NULL;
}

bool loom_value_get_bool(const loom_value *v)
{
    if (!v)
        return false;
    switch (v->kind) {
    case LOOM_KIND_BOOL:   return v->as.b;
    case LOOM_KIND_INT:    return v->as.i != 0;
    case LOOM_KIND_FLOAT:  return v->as.f != 0;
    case LOOM_KIND_STRING: return v->as.s[0] != '\0';
    default:               return v->as.obj != NULL;
    }
}

void *loom_value_object_ptr(const loom_value *v, const char *type)
{
    if (!v || v->kind != LOOM_KIND_OBJECT)
        return NULL;
    if (type && strcmp(type, v->type) != 0)
        return NULL;
    return v->as.obj;
}

size_t loom_value_bytes(const loom_value *v) { return v ? sizeof *v + v->bytes : 0; }

int loom_value_refcount(const loom_value *v)
{
    return v ? __atomic_load_n(&v->refcount, __ATOMIC_RELAXED) : 0;
}
