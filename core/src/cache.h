/* cache.h: the node output cache, keyed by content.
 *
 * A key is the SHA-256 of a node's signature: class, fingerprint, constant inputs and
 * the keys of its upstream nodes (see exec_keys.c), so the same sub-chain hits the cache
 * whatever the node ids. An entry holds a reference to each output value and the node's
 * UI dict. Entries are evicted least-recently-used once their bytes exceed the budget;
 * entries touched by the run in progress (generation == current) are never evicted, so
 * a run never loses an input it is about to use.
 */
#ifndef LOOM_CACHE_H
#define LOOM_CACHE_H

#include <json-c/json.h>
#include <stdint.h>

#include "loom/value.h"

typedef struct cache cache;

typedef struct cache_entry {
    loom_value **outputs;    /* n references */
    size_t       n;
    json_object *ui;         /* owned, may be NULL */
    uint64_t     bytes;
    uint64_t     last_use;   /* logical clock */
    uint64_t     generation; /* run that last touched it */
} cache_entry;

cache       *cache_new   (uint64_t budget);
void         cache_free  (cache *c);
/* Borrowed entry (NULL if absent); marks it used by the current generation. */
cache_entry *cache_get   (cache *c, const char *key);
/* Store outputs (takes one new reference of each; the caller keeps its own) and ui
 * (copied). Replaces an existing entry. */
int          cache_put   (cache *c, const char *key, loom_value *const *outputs, size_t n,
                          json_object *ui);
/* Start a new run: later gets/puts belong to it and are protected from eviction. */
void         cache_begin_run(cache *c);
/* Evict LRU entries of earlier runs until within budget. */
void         cache_trim  (cache *c);
void         cache_clear (cache *c);
size_t       cache_count (const cache *c);
uint64_t     cache_bytes (const cache *c);
uint64_t     cache_budget(const cache *c);

#endif
