/* cache.c: content-addressed output cache with a byte budget and LRU eviction
 * (see cache.h). Eviction scans all entries for the oldest; caches hold tens to hundreds
 * of entries, so a scan is cheaper than keeping an ordered list in sync. */
#include "cache.h"

#include <stdlib.h>

#include "strmap.h"

struct cache {
    strmap   map;        /* key -> cache_entry* */
    uint64_t budget, bytes, clock, generation;
};

cache *cache_new(uint64_t budget)
{
    cache *c = calloc(1, sizeof *c);
    if (c)
        c->budget = budget;
    return c;
}

static void entry_free(cache_entry *e)
{
    for (size_t i = 0; i < e->n; i++)
        loom_value_unref(e->outputs[i]);
    free(e->outputs);
    if (e->ui)
        json_object_put(e->ui);
    free(e);
}

void cache_clear(cache *c)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->map, &it, &k, &v);)
        entry_free(v);
    strmap_free(&c->map);
    c->bytes = 0;
}

void cache_free(cache *c)
{
    if (!c)
        return;
    cache_clear(c);
    free(c);
}

cache_entry *cache_get(cache *c, const char *key)
{
    cache_entry *e = strmap_get(&c->map, key);
    if (e) {
        e->last_use = ++c->clock;
        e->generation = c->generation;
    }
    return e;
}

int cache_put(cache *c, const char *key, loom_value *const *outputs, size_t n,
              json_object *ui)
{
    cache_entry *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->outputs = calloc(n ? n : 1, sizeof *e->outputs);
    if (!e->outputs) {
        free(e);
        return -1;
    }
    e->n = n;
    for (size_t i = 0; i < n; i++) {
        e->outputs[i] = loom_value_ref(outputs[i]);
        e->bytes += loom_value_bytes(outputs[i]);
    }
    if (ui)
        json_object_deep_copy(ui, &e->ui, NULL);
    e->last_use = ++c->clock;
    e->generation = c->generation;
    cache_entry *old = strmap_get(&c->map, key);
    if (strmap_put(&c->map, key, e) != 0) {
        entry_free(e);
        return -1;
    }
    if (old) {
        c->bytes -= old->bytes;
        entry_free(old);
    }
    c->bytes += e->bytes;
    return 0;
}

void cache_begin_run(cache *c) { c->generation++; }

void cache_trim(cache *c)
{
    while (c->bytes > c->budget) {
        const char *k, *victim = NULL;
        void *v;
        cache_entry *oldest = NULL;
        for (size_t it = 0; strmap_next(&c->map, &it, &k, &v);) {
            cache_entry *e = v;
            if (e->generation == c->generation)
                continue;
            if (!oldest || e->last_use < oldest->last_use) {
                oldest = e;
                victim = k;
            }
        }
        if (!oldest)
            return;
        c->bytes -= oldest->bytes;
        strmap_remove(&c->map, victim);
        entry_free(oldest);
    }
}

size_t   cache_count (const cache *c) { return c->map.len; }
uint64_t cache_bytes (const cache *c) { return c->bytes; }
uint64_t cache_budget(const cache *c) { return c->budget; }
