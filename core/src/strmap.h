/* strmap.h: string -> pointer hash map (open addressing, linear probing), the one map in
 * core. Keys are copied; values are borrowed. Iteration order is unspecified. */
#ifndef LOOM_STRMAP_H
#define LOOM_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strmap {
    char  **keys;      /* NULL = empty slot, TOMBSTONE = deleted */
    void  **vals;
    size_t  cap, len, used;
} strmap;

void *strmap_get   (const strmap *m, const char *key);
bool  strmap_has   (const strmap *m, const char *key);
int   strmap_put   (strmap *m, const char *key, void *val);   /* 0 ok, -1 OOM */
void *strmap_remove(strmap *m, const char *key);               /* returns old value */
void  strmap_free  (strmap *m);                                 /* values untouched */
/* Iterate: for (size_t i = 0; strmap_next(m, &i, &k, &v);) */
bool  strmap_next  (const strmap *m, size_t *iter, const char **key, void **val);

#endif
