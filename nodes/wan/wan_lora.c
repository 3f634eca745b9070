/* wan_lora.c: LoRA deltas for a Wan DiT, applied while its weights are packed.
 *
 * A LoRA holds, per linear layer, either a low-rank pair (down [r, K], up [N, r], optional
 * scalar alpha: delta = alpha/r * up . down) or a full delta ("diff", [N, K]). Loaded
 * weights are prepacked and the originals are not kept, so a LoRA is applied by loading
 * the base model again with a weight patch: W' = W + strength * delta, in f32, before
 * packing. LoRAs chain: each one refers to the LoRAs its base model was loaded with, and
 * the patch applies the whole chain in order, so stacked LoraLoaderModelOnly nodes work as
 * in ComfyUI.
 *
 * Key names are matched against the model's own linear layers in the spellings LoRA files
 * use: bare original names, "diffusion_model." / "model.diffusion_model." prefixes, and
 * kohya's "lora_unet_" with dots as underscores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/plugin.h"
#include "wan_dit.h"

typedef struct lora_layer {
    char        *name;             /* original naming, e.g. "blocks.0.self_attn.q" */
    loom_tensor *down, *up, *diff; /* views into the LoRA file; NULL when absent */
    float        alpha;            /* 0: none (scale 1) */
} lora_layer;

struct wan_lora {
    int         refs;
    char        path[1024];
    float       strength;
    lora_layer *layers;            /* every linear layer of the model */
    size_t      n_layers;
    wan_lora   *prev;              /* applied before this one; owned reference */
};

typedef struct key_entry {
    char  *key;                    /* a spelling of a layer name */
    size_t layer;
} key_entry;

static const char *const block_linears[] = {"self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o",
                                            "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o",
                                            "ffn.0", "ffn.2"};
static const char *const global_linears[] = {"patch_embedding", "text_embedding.0", "text_embedding.2",
                                             "time_embedding.0", "time_embedding.2", "time_projection.1",
                                             "head.head"};
static const char *const key_prefixes[] = {"", "diffusion_model.", "model.diffusion_model.", "lora_unet_"};

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const key_entry *)a)->key, ((const key_entry *)b)->key);
}

void wan_lora_unref(wan_lora *l)
{
    while (l && __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        wan_lora *prev = l->prev;
        for (size_t i = 0; i < l->n_layers; i++) {
            free(l->layers[i].name);
            loom_tensor_unref(l->layers[i].down);
            loom_tensor_unref(l->layers[i].up);
            loom_tensor_unref(l->layers[i].diff);
        }
        free(l->layers);
        free(l);
        l = prev;
    }
}

static int layer_names(wan_lora *l, const wan_config *c)
{
    l->n_layers = LOOM_COUNT(global_linears) + (size_t)c->num_layers * LOOM_COUNT(block_linears);
    if (!(l->layers = calloc(l->n_layers, sizeof *l->layers)))
        return LOOM_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < LOOM_COUNT(global_linears); i++)
        l->layers[k++].name = strdup(global_linears[i]);
    for (int b = 0; b < c->num_layers; b++)
        for (size_t i = 0; i < LOOM_COUNT(block_linears); i++) {
            char name[64];
            snprintf(name, sizeof name, "blocks.%d.%s", b, block_linears[i]);
            l->layers[k++].name = strdup(name);
        }
    for (size_t i = 0; i < k; i++)
        if (!l->layers[i].name)
            return LOOM_ERR_NOMEM;
    return LOOM_OK;
}

/* Every spelling of every layer name, sorted for bsearch. */
static key_entry *build_keys(const wan_lora *l, size_t *n)
{
    *n = l->n_layers * LOOM_COUNT(key_prefixes);
    key_entry *keys = calloc(*n, sizeof *keys);
    for (size_t i = 0; keys && i < l->n_layers; i++)
        for (size_t p = 0; p < LOOM_COUNT(key_prefixes); p++) {
            key_entry *e = &keys[i * LOOM_COUNT(key_prefixes) + p];
            size_t len = strlen(key_prefixes[p]) + strlen(l->layers[i].name) + 1;
            if (!(e->key = malloc(len)))
                continue;
            snprintf(e->key, len, "%s%s", key_prefixes[p], l->layers[i].name);
            if (!strcmp(key_prefixes[p], "lora_unet_"))
                for (char *c = e->key + strlen(key_prefixes[p]); *c; c++)
                    if (*c == '.')
                        *c = '_';
            e->layer = i;
        }
    for (size_t i = 0; keys && i < *n; i++)
        if (!keys[i].key)
            keys[i].key = strdup("");   /* out of memory for one spelling: it just never matches */
    if (keys)
        qsort(keys, *n, sizeof *keys, key_cmp);
    return keys;
}

static void free_keys(key_entry *keys, size_t n)
{
    for (size_t i = 0; keys && i < n; i++)
        free(keys[i].key);
    free(keys);
}

/* Which part of a layer a LoRA tensor is, from its name's ending. */
typedef enum part { PART_NONE, PART_DOWN, PART_UP, PART_ALPHA, PART_DIFF } part;

static part split_name(const char *name, char *stem, size_t cap)
{
    static const struct { const char *suffix; part p; } suffixes[] = {
        {".lora_down.weight", PART_DOWN}, {".lora_A.weight", PART_DOWN}, {".lora_up.weight", PART_UP},
        {".lora_B.weight", PART_UP},      {".alpha", PART_ALPHA},         {".diff", PART_DIFF}};
    size_t n = strlen(name);
    for (size_t i = 0; i < LOOM_COUNT(suffixes); i++) {
        size_t m = strlen(suffixes[i].suffix);
        if (n > m && n - m < cap && !strcmp(name + n - m, suffixes[i].suffix)) {
            memcpy(stem, name, n - m);
            stem[n - m] = '\0';
            return suffixes[i].p;
        }
    }
    return PART_NONE;
}

static int read_tensors(wan_lora *l, loom_safetensors *st, const key_entry *keys, size_t n_keys,
                        size_t *unmatched, char *first_unmatched, size_t cap, loom_error *err)
{
    size_t matched = 0;
    for (size_t i = 0; i < loom_safetensors_count(st); i++) {
        const char *name = loom_safetensors_name(st, i);
        char stem[512];
        part p = split_name(name, stem, sizeof stem);
        key_entry probe = {.key = stem};
        const key_entry *hit = p == PART_NONE ? NULL : bsearch(&probe, keys, n_keys, sizeof *keys, key_cmp);
        if (!hit) {
            if ((*unmatched)++ == 0 && cap)
                snprintf(first_unmatched, cap, "%s", name);
            continue;
        }
        lora_layer *ly = &l->layers[hit->layer];
        loom_tensor *t = loom_safetensors_get(st, name);
        if (!t || !loom_dtype_is_float(t->dtype)) {
            loom_tensor_unref(t);
            return loom_errorf(err, LOOM_ERR_INVALID, "LoRA '%s': tensor '%s' is not a float tensor", l->path, name);
        }
        matched++;
        if (p == PART_ALPHA) {
            if (loom_tensor_numel(t) != 1) {
                loom_tensor_unref(t);
                return loom_errorf(err, LOOM_ERR_INVALID, "LoRA '%s': alpha '%s' is not a scalar", l->path, name);
            }
            loom_convert_to_f32(t->dtype, t->data, &ly->alpha, 1);
            loom_tensor_unref(t);
            continue;
        }
        loom_tensor **slot = p == PART_DOWN ? &ly->down : p == PART_UP ? &ly->up : &ly->diff;
        loom_tensor_unref(*slot);
        *slot = t;
    }
    if (!matched)
        return loom_errorf(err, LOOM_ERR_INVALID, "LoRA '%s' changes no layer of this Wan DiT (first key '%s')",
                           l->path, *unmatched ? first_unmatched : "(none)");
    for (size_t i = 0; i < l->n_layers; i++)
        if (!l->layers[i].up != !l->layers[i].down)
            return loom_errorf(err, LOOM_ERR_INVALID, "LoRA '%s': layer '%s' has only one of its up/down pair",
                               l->path, l->layers[i].name);
    return LOOM_OK;
}

int wan_lora_open(const char *path, const wan_dit *m, float strength, wan_lora **out, size_t *unmatched,
                  char *first_unmatched, size_t cap, loom_error *err)
{
    *out = NULL;
    *unmatched = 0;
    if (cap)
        first_unmatched[0] = '\0';
    loom_safetensors *st = NULL;
    int rc = loom_safetensors_open(path, &st, err);
    if (rc)
        return rc;
    wan_lora *l = calloc(1, sizeof *l);
    size_t n_keys = 0;
    key_entry *keys = NULL;
    if (l)
        l->refs = 1;
    if (!l || layer_names(l, &m->cfg) || !(keys = build_keys(l, &n_keys))) {
        rc = loom_errorf(err, LOOM_ERR_NOMEM, "out of memory reading LoRA '%s'", path);
    } else {
        l->strength = strength;
        snprintf(l->path, sizeof l->path, "%s", path);
        rc = read_tensors(l, st, keys, n_keys, unmatched, first_unmatched, cap, err);
    }
    free_keys(keys, n_keys);
    loom_safetensors_close(st);     /* the views keep the mapping */
    if (rc) {
        wan_lora_unref(l);
        return rc;
    }
    if ((l->prev = m->lora))
        __atomic_add_fetch(&m->lora->refs, 1, __ATOMIC_RELAXED);
    *out = l;
    return LOOM_OK;
}

/* ---- the weight patch -------------------------------------------------------------- */

static const lora_layer *find_layer(const wan_lora *l, const char *layer)
{
    for (size_t i = 0; i < l->n_layers; i++)
        if (!strcmp(l->layers[i].name, layer))
            return l->layers[i].up || l->layers[i].diff ? &l->layers[i] : NULL;
    return NULL;
}

static int patch_has(void *user, const char *layer)
{
    for (const wan_lora *l = user; l; l = l->prev)
        if (find_layer(l, layer))
            return 1;
    return 0;
}

/* w [N, K] += strength * (alpha / r * up . down + diff) for one LoRA. */
static int apply_one(const wan_lora *l, const lora_layer *ly, float *w, int64_t N, int64_t K, loom_error *err)
{
    char d[128], d2[128];
    if (ly->diff) {
        if (loom_tensor_numel(ly->diff) != N * K)
            return loom_errorf(err, LOOM_ERR_INVALID, "LoRA '%s': '%s' diff is %s, the layer [%lld, %lld]", l->path,
                               ly->name, loom_tensor_describe(ly->diff, d, sizeof d), (long long)N, (long long)K);
        loom_tensor *f = loom_tensor_to_f32(ly->diff, err);
        if (!f)
            return err->code;
        const float *p = f->data;
        for (int64_t i = 0; i < N * K; i++)
            w[i] += l->strength * p[i];
        loom_tensor_unref(f);
    }
    if (!ly->up)
        return LOOM_OK;
    int64_t r = ly->down->shape[0];
    if (r <= 0 || loom_tensor_numel(ly->down) != r * K || loom_tensor_numel(ly->up) != N * r)
        return loom_errorf(err, LOOM_ERR_INVALID, "LoRA '%s': '%s' up %s / down %s do not fit the layer [%lld, %lld]",
                           l->path, ly->name, loom_tensor_describe(ly->up, d, sizeof d),
                           loom_tensor_describe(ly->down, d2, sizeof d2), (long long)N, (long long)K);
    loom_tensor *up = loom_tensor_to_f32(ly->up, err), *down = up ? loom_tensor_to_f32(ly->down, err) : NULL;
    if (down) {
        float scale = l->strength * (ly->alpha != 0.0f ? ly->alpha / (float)r : 1.0f);
        loom_gemm_f32(0, 0, N, K, r, scale, up->data, r, down->data, K, 1.0f, w, K);
    }
    loom_tensor_unref(up);
    loom_tensor_unref(down);
    return down ? LOOM_OK : err->code;
}

static int apply_chain(const wan_lora *l, const char *layer, float *w, int64_t N, int64_t K, loom_error *err)
{
    if (!l)
        return LOOM_OK;
    int rc = apply_chain(l->prev, layer, w, N, K, err);     /* earlier LoRAs first */
    const lora_layer *ly = rc ? NULL : find_layer(l, layer);
    return ly ? apply_one(l, ly, w, N, K, err) : rc;
}

static int patch_apply(void *user, const char *layer, float *w, int64_t N, int64_t K, loom_error *err)
{
    return apply_chain(user, layer, w, N, K, err);
}

wan_weight_patch wan_lora_patch(wan_lora *l)
{
    return (wan_weight_patch){patch_has, patch_apply, l};
}
