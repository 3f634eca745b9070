/* strmap.c: open-addressing hash map with FNV-1a hashing and tombstones.
 * Invariant: cap is 0 or a power of two, and used (live + tombstones) <= cap * 3/4. */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tombstone_key;
#define TOMBSTONE (&tombstone_key)

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t find_slot(const strmap *m, const char *key, bool *found)
{
    size_t mask = m->cap - 1, i = hash_str(key) & mask, first_free = SIZE_MAX;
    for (;;) {
        char *k = m->keys[i];
        if (!k) {
            *found = false;
            return first_free != SIZE_MAX ? first_free : i;
        }
        if (k == TOMBSTONE) {
            if (first_free == SIZE_MAX)
                first_free = i;
        } else if (strcmp(k, key) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static int grow(strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    while (m->len * 2 >= cap)
        cap *= 2;
    strmap n = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(void *)), cap, 0, 0};
    if (!n.keys || !n.vals) {
        free(n.keys);
        free(n.vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] && m->keys[i] != TOMBSTONE) {
            bool found;
            size_t at = find_slot(&n, m->keys[i], &found);
            n.keys[at] = m->keys[i];
            n.vals[at] = m->vals[i];
            n.len++;
            n.used++;
        }
    }
    free(m->keys);
    free(m->vals);
    *m = n;
    return 0;
}

void *strmap_get(const strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    bool found;
    size_t at = find_slot(m, key, &found);
    return found ? m->vals[at] : NULL;
}

bool strmap_has(const strmap *m, const char *key)
{
    if (!m->cap)
        return false;
    bool found;
    find_slot(m, key, &found);
    return found;
}

int strmap_put(strmap *m, const char *key, void *val)
{
    if ((m->used + 1) * 4 > m->cap * 3 && grow(m) != 0)
        return -1;
    bool found;
    size_t at = find_slot(m, key, &found);
    if (found) {
        m->vals[at] = val;
        return 0;
    }
    char *k = strdup(key);
    if (!k)
        return -1;
    if (m->keys[at] != TOMBSTONE)
        m->used++;
    m->keys[at] = k;
    m->vals[at] = val;
    m->len++;
    return 0;
}

void *strmap_remove(strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    bool found;
    size_t at = find_slot(m, key, &found);
    if (!found)
        return NULL;
    void *old = m->vals[at];
    free(m->keys[at]);
    m->keys[at] = TOMBSTONE;
    m->vals[at] = NULL;
    m->len--;
    return old;
}

void strmap_free(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] != TOMBSTONE)
            free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    *m = (strmap){0};
}

bool strmap_next(const strmap *m, size_t *iter, const char **key, void **val)
{
    for (; *iter < m->cap; (*iter)++) {
        char *k = m->keys[*iter];
        if (k && k != TOMBSTONE) {
            *key = k;
            if (val)
                *val = m->vals[*iter];
            (*iter)++;
            return true;
        }
    }
    return false;
}
