/* arena.c: the activation arena, a chunked bump allocator.
 *
 * Allocation bumps an offset inside the newest chunk; when it does not fit, a new chunk
 * at least twice the previous one is added. A mark is the total bytes handed out so far
 * (a position in the sequence of allocations), so reset(mark) pops everything allocated
 * after it. Resetting to 0 with more than one chunk replaces them by a single chunk of the
 * peak size: after the first forward pass the arena holds one block and never calls
 * malloc again. A chunk dropped by a reset to a nonzero mark is kept as a spare for the
 * next overflow: a model that resets to a mark inside every layer (attention's packed
 * inputs) would otherwise map, fault in and unmap a fresh chunk on each call.
 */
#include "loom/ops.h"

#include <stdlib.h>

#define ARENA_ALIGN 64

typedef struct arena_chunk {
    struct arena_chunk *prev;
    size_t              cap, used;
    size_t              base;    /* mark value at the chunk's first byte */
    unsigned char      *mem;
} arena_chunk;

struct loom_arena {
    arena_chunk *top;
    arena_chunk *spare;   /* the largest chunk dropped by a reset, reused before malloc */
    size_t       peak;
};

static arena_chunk *chunk_new(size_t cap, size_t base)
{
    arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->mem = loom_aligned_alloc(cap);
    if (!c->mem) { free(c); return NULL; }
    c->prev = NULL;
    c->cap = cap;
    c->used = 0;
    c->base = base;
    return c;
}

loom_arena *loom_arena_new(size_t initial_bytes, loom_error *err)
{
    loom_arena *a = calloc(1, sizeof *a);
    if (!a) { loom_errorf(err, LOOM_ERR_NOMEM, "arena: out of memory"); return NULL; }
    if (initial_bytes < 4096) initial_bytes = 4096;
    a->top = chunk_new((initial_bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1), 0);
    if (!a->top) {
        free(a);
        loom_errorf(err, LOOM_ERR_NOMEM, "arena: cannot allocate %zu bytes", initial_bytes);
        return NULL;
    }
    return a;
}

static void chunk_free(arena_chunk *c)
{
    if (!c) return;
    loom_aligned_free(c->mem);
    free(c);
}

void loom_arena_free(loom_arena *a)
{
    if (!a) return;
    for (arena_chunk *c = a->top, *p; c; c = p) {
        p = c->prev;
        chunk_free(c);
    }
    chunk_free(a->spare);
    free(a);
}

size_t loom_arena_mark(const loom_arena *a) { return a->top->base + a->top->used; }
size_t loom_arena_peak(const loom_arena *a) { return a->peak; }

void *loom_arena_alloc(loom_arena *a, size_t bytes)
{
    size_t need = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < bytes) return NULL;
    if (need == 0) need = ARENA_ALIGN;
    arena_chunk *c = a->top;
    if (c->cap - c->used < need) {
        size_t cap = c->cap * 2;
        if (cap < need) cap = need;
        arena_chunk *n = a->spare;
        if (n && n->cap >= cap) {
            a->spare = NULL;
            n->used = 0;
            n->base = c->base + c->cap;
        } else {
            n = chunk_new(cap, c->base + c->cap);
            if (!n) return NULL;
        }
        /* The unused tail of the old chunk counts as consumed, so marks stay monotonic. */
        c->used = c->cap;
        n->prev = c;
        a->top = c = n;
    }
    void *p = c->mem + c->used;
    c->used += need;
    size_t m = c->base + c->used;
    if (m > a->peak) a->peak = m;
    return p;
}

float *loom_arena_f32(loom_arena *a, int64_t n)
{
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(float)) return NULL;
    return loom_arena_alloc(a, (size_t)n * sizeof(float));
}

void loom_arena_reset(loom_arena *a, size_t mark)
{
    /* Drop whole chunks above the mark, keeping the largest as the spare. */
    while (a->top->prev && a->top->base >= mark) {
        arena_chunk *c = a->top;
        a->top = c->prev;
        c->prev = NULL;
        if (!a->spare || a->spare->cap < c->cap) {
            chunk_free(a->spare);
            a->spare = c;
        } else {
            chunk_free(c);
        }
    }
    arena_chunk *c = a->top;
    c->used = mark > c->base ? mark - c->base : 0;
    if (c->used > c->cap) c->used = c->cap;
    if (mark == 0 && c->prev == NULL && c->cap < a->peak) {
        /* Everything was released: regrow to the peak so the next pass fits one chunk. */
        arena_chunk *n = chunk_new(a->peak, 0);
        if (n) {
            chunk_free(c);
            chunk_free(a->spare);   /* the single chunk now holds every pass */
            a->spare = NULL;
            a->top = n;
        }
    }
}

/* ---- thread-local scratch ------------------------------------------------------------ */
/* Kernels need per-thread buffers (packed activations, attention tiles) whose size
 * depends on the call. Each thread keeps a few grow-only blocks, so steady-state forward
 * passes never allocate; the blocks live as long as the thread (freed at thread exit). */
#include <pthread.h>
#include "ops_internal.h"

static __thread struct { void *p; size_t cap; } tl_scratch[OPS_SCRATCH_SLOTS];
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *unused)
{
    (void)unused;
    for (int i = 0; i < OPS_SCRATCH_SLOTS; i++) {
        loom_aligned_free(tl_scratch[i].p);
        tl_scratch[i].p = NULL;
        tl_scratch[i].cap = 0;
    }
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_destroy); }

void *ops_scratch(int slot, size_t bytes)
{
    if (slot < 0 || slot >= OPS_SCRATCH_SLOTS) return NULL;
    if (bytes == 0) bytes = 64;
    if (tl_scratch[slot].cap >= bytes) return tl_scratch[slot].p;
    pthread_once(&scratch_once, scratch_key_init);
    pthread_setspecific(scratch_key, (void *)1);
    loom_aligned_free(tl_scratch[slot].p);
    size_t cap = bytes + bytes / 4;                 /* some headroom for growing shapes */
    tl_scratch[slot].p = loom_aligned_alloc(cap);
    tl_scratch[slot].cap = tl_scratch[slot].p ? cap : 0;
    return tl_scratch[slot].p;
}
