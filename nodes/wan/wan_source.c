/* wan_source.c: where a Wan DiT's tensors come from, and what they are called.
 *
 * A source is one or more memory-mapped safetensors files (one for ComfyUI / original
 * files, one or more shards for a diffusers transformer folder) plus a naming scheme. The
 * loader always asks for the original Wan names (spec 2.6); the source adds the
 * "model.diffusion_model." prefix when the file carries it, or rewrites the name to the
 * diffusers one through the table below. Every tensor of the files sits in one sorted
 * index that also records whether the loader asked for it, so a file with tensors this
 * model does not have (an I2V or VACE file, a different family) is rejected by name
 * instead of being half-loaded.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loom/plugin.h"
#include "wan_dit.h"

/* Shards in a diffusers index; real models have a handful. */
#define WAN_MAX_SHARDS 64
#define WAN_PATH_MAX 4096

#define INDEX_JSON "diffusion_pytorch_model.safetensors.index.json"
#define SINGLE_FILE "diffusion_pytorch_model.safetensors"

static const char comfy_prefix[] = "model.diffusion_model.";

typedef struct name_entry {
    const char *name;           /* owned by the shard's safetensors handle */
    int         shard;
    bool        used;
} name_entry;

struct wan_source {
    char              path[WAN_PATH_MAX];
    loom_safetensors *shards[WAN_MAX_SHARDS];
    int               n_shards;
    name_entry       *names;    /* sorted by name */
    size_t            n_names;
    const char       *prefix;   /* "" or comfy_prefix */
    bool              diffusers;
    int               num_heads;
};

/* ---- the original -> diffusers name map (spec 2.6) ---------------------------------- */

typedef struct name_rewrite {
    const char *original, *diffusers;   /* prefixes */
} name_rewrite;

static const name_rewrite global_names[] = {
    {"text_embedding.0.", "condition_embedder.text_embedder.linear_1."},
    {"text_embedding.2.", "condition_embedder.text_embedder.linear_2."},
    {"time_embedding.0.", "condition_embedder.time_embedder.linear_1."},
    {"time_embedding.2.", "condition_embedder.time_embedder.linear_2."},
    {"time_projection.1.", "condition_embedder.time_proj."},
    {"head.modulation", "scale_shift_table"},
    {"head.head.", "proj_out."},
    {"patch_embedding.", "patch_embedding."},
};

/* Inside "blocks.N.". Note the swap: original norm3 (cross-attention) is diffusers norm2. */
static const name_rewrite block_names[] = {
    {"self_attn.q.", "attn1.to_q."},       {"self_attn.k.", "attn1.to_k."},
    {"self_attn.v.", "attn1.to_v."},       {"self_attn.o.", "attn1.to_out.0."},
    {"self_attn.norm_q.", "attn1.norm_q."}, {"self_attn.norm_k.", "attn1.norm_k."},
    {"cross_attn.q.", "attn2.to_q."},      {"cross_attn.k.", "attn2.to_k."},
    {"cross_attn.v.", "attn2.to_v."},      {"cross_attn.o.", "attn2.to_out.0."},
    {"cross_attn.norm_q.", "attn2.norm_q."}, {"cross_attn.norm_k.", "attn2.norm_k."},
    {"norm3.", "norm2."},
    {"ffn.0.", "ffn.net.0.proj."},         {"ffn.2.", "ffn.net.2."},
    {"modulation", "scale_shift_table"},
};

static bool rewrite(const name_rewrite *table, size_t n, const char *head, const char *name,
                    char *buf, size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(table[i].original);
        if (!strncmp(name, table[i].original, len)) {
            snprintf(buf, cap, "%s%s%s", head, table[i].diffusers, name + len);
            return true;
        }
    }
    return false;
}

const char *wan_source_file_name(const wan_source *s, const char *name, char *buf, size_t cap)
{
    if (!s->diffusers) {
        snprintf(buf, cap, "%s%s", s->prefix, name);
        return buf;
    }
    int block, used = 0;
    if (sscanf(name, "blocks.%d.%n", &block, &used) == 1 && used > 0) {
        char head[32];
        snprintf(head, sizeof head, "blocks.%d.", block);
        if (rewrite(block_names, LOOM_COUNT(block_names), head, name + used, buf, cap))
            return buf;
    } else if (rewrite(global_names, LOOM_COUNT(global_names), "", name, buf, cap)) {
        return buf;
    }
    snprintf(buf, cap, "%s", name);     /* no diffusers twin: looked up as is, found nowhere */
    return buf;
}

const char *wan_source_path(const wan_source *s) { return s->path; }
int wan_source_num_heads(const wan_source *s) { return s->num_heads; }

/* ---- the name index ------------------------------------------------------------------ */

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const name_entry *)a)->name, ((const name_entry *)b)->name);
}

static name_entry *find_entry(const wan_source *s, const char *file_name)
{
    name_entry key = {.name = file_name};
    return bsearch(&key, s->names, s->n_names, sizeof key, entry_cmp);
}

static int build_index(wan_source *s, loom_error *err)
{
    size_t n = 0;
    for (int i = 0; i < s->n_shards; i++)
        n += loom_safetensors_count(s->shards[i]);
    s->names = calloc(n ? n : 1, sizeof *s->names);
    if (!s->names)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory indexing '%s'", s->path);
    for (int i = 0; i < s->n_shards; i++)
        for (size_t j = 0; j < loom_safetensors_count(s->shards[i]); j++)
            s->names[s->n_names++] = (name_entry){loom_safetensors_name(s->shards[i], j), i, false};
    qsort(s->names, s->n_names, sizeof *s->names, entry_cmp);
    for (size_t i = 1; i < s->n_names; i++)
        if (!strcmp(s->names[i].name, s->names[i - 1].name))
            return loom_errorf(err, LOOM_ERR_INVALID, "tensor '%s' appears in two shards of '%s'",
                               s->names[i].name, s->path);
    return LOOM_OK;
}

loom_tensor *wan_source_get(wan_source *s, const char *name)
{
    char buf[512];
    name_entry *e = find_entry(s, wan_source_file_name(s, name, buf, sizeof buf));
    if (!e)
        return NULL;
    e->used = true;
    return loom_safetensors_get(s->shards[e->shard], e->name);
}

loom_tensor *wan_source_require(wan_source *s, const char *name, loom_error *err)
{
    loom_tensor *t = wan_source_get(s, name);
    if (!t) {
        char buf[512];
        loom_errorf(err, LOOM_ERR_INVALID, "'%s' is not a complete Wan2.1 DiT: tensor '%s' is missing",
                    s->path, wan_source_file_name(s, name, buf, sizeof buf));
    }
    return t;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !strcmp(s + n - m, tail);
}

/* Tensors the loader never asks for but that belong to a valid file: the scaled-fp8 marker
 * and the activation scales (loom runs activations in f32/bf16, so they have no use). */
static bool ignorable(const char *name)
{
    return ends_with(name, "scaled_fp8") || ends_with(name, ".scale_input") ||
           ends_with(name, ".input_scale") || ends_with(name, ".comfy_quant");
}

int wan_source_check_all_used(const wan_source *s, loom_error *err)
{
    for (size_t i = 0; i < s->n_names; i++)
        if (!s->names[i].used && !ignorable(s->names[i].name))
            return loom_errorf(err, LOOM_ERR_UNSUPPORTED,
                               "'%s': unexpected tensor '%s' (not part of a Wan2.1 text-to-video DiT; "
                               "I2V, VACE and other variants are not supported)",
                               s->path, s->names[i].name);
    return LOOM_OK;
}

/* ---- opening files and folders -------------------------------------------------------- */

static int add_shard(wan_source *s, const char *file, loom_error *err)
{
    if (s->n_shards == WAN_MAX_SHARDS)
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "'%s': more than %d shards", s->path, WAN_MAX_SHARDS);
    return loom_safetensors_open(file, &s->shards[s->n_shards++], err) == LOOM_OK
               ? LOOM_OK
               : (s->n_shards--, err->code);
}

static json_object *read_json(const char *file, loom_error *err)
{
    json_object *j = json_object_from_file(file);
    if (!j || !json_object_is_type(j, json_type_object)) {
        json_object_put(j);
        loom_errorf(err, LOOM_ERR_INVALID, "'%s' is not a JSON object", file);
        return NULL;
    }
    return j;
}

/* dir/file into out[WAN_PATH_MAX]; an over-long path becomes "" (which names no file). */
static const char *join(char *out, const char *dir, const char *file)
{
    int n = snprintf(out, WAN_PATH_MAX, "%s/%s", dir, file);
    if (n < 0 || n >= WAN_PATH_MAX)
        out[0] = '\0';
    return out;
}

/* The shards a diffusers index names (weight_map values), each opened once. */
static int open_index(wan_source *s, const char *dir, const char *index, loom_error *err)
{
    json_object *j = read_json(index, err), *map;
    if (!j)
        return err->code;
    int rc = LOOM_OK;
    if (!json_object_object_get_ex(j, "weight_map", &map) || !json_object_is_type(map, json_type_object)) {
        rc = loom_errorf(err, LOOM_ERR_INVALID, "'%s' has no \"weight_map\" object", index);
        goto done;
    }
    char seen[WAN_MAX_SHARDS][256];
    int n_seen = 0;
    json_object_object_foreach(map, key, val) {
        const char *file = json_object_get_string(val);
        (void)key;
        if (!file || !*file || strchr(file, '/') || strlen(file) >= sizeof seen[0]) {
            rc = loom_errorf(err, LOOM_ERR_INVALID, "'%s': bad shard name for '%s'", index, key);
            goto done;
        }
        bool known = false;
        for (int i = 0; i < n_seen && !known; i++)
            known = !strcmp(seen[i], file);
        if (known)
            continue;
        if (n_seen == WAN_MAX_SHARDS) {
            rc = loom_errorf(err, LOOM_ERR_UNSUPPORTED, "'%s': more than %d shards", index, WAN_MAX_SHARDS);
            goto done;
        }
        snprintf(seen[n_seen++], sizeof seen[0], "%s", file);
        char path[WAN_PATH_MAX];
        join(path, dir, file);
        if ((rc = add_shard(s, path, err)) != LOOM_OK)
            goto done;
    }
done:
    json_object_put(j);
    return rc;
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int heads_from_json(json_object *j, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(j, key, &v) ? json_object_get_int(v) : 0;
}

/* A diffusers transformer folder: the sharded index if there is one, else the one file. */
static int open_diffusers_dir(wan_source *s, const char *dir, loom_error *err)
{
    char p[WAN_PATH_MAX];
    join(p, dir, "config.json");
    if (is_file(p)) {
        json_object *j = read_json(p, err);
        if (!j)
            return err->code;
        s->num_heads = heads_from_json(j, "num_attention_heads");
        json_object_put(j);
    }
    if (s->n_shards)            /* the caller opened the file it was given */
        return LOOM_OK;
    join(p, dir, INDEX_JSON);
    if (is_file(p))
        return open_index(s, dir, p, err);
    join(p, dir, SINGLE_FILE);
    if (is_file(p))
        return add_shard(s, p, err);
    return loom_errorf(err, LOOM_ERR_NOT_FOUND,
                       "'%s' holds neither diffusion_pytorch_model.safetensors nor its .index.json", dir);
}

static void heads_from_metadata(wan_source *s)
{
    for (int i = 0; i < s->n_shards && !s->num_heads; i++) {
        const char *cfg = loom_safetensors_metadata(s->shards[i], "config");
        const char *plain = loom_safetensors_metadata(s->shards[i], "num_heads");
        json_object *j = cfg ? json_tokener_parse(cfg) : NULL;
        if (j && json_object_is_type(j, json_type_object))
            s->num_heads = heads_from_json(j, "num_heads");
        json_object_put(j);
        if (!s->num_heads && plain)
            s->num_heads = atoi(plain);
    }
}

static bool has(const wan_source *s, const char *file_name) { return find_entry(s, file_name) != NULL; }

/* Which naming the files use, from the tensor every Wan DiT has. */
static int detect_naming(wan_source *s, loom_error *err)
{
    if (has(s, "head.modulation"))
        return LOOM_OK;
    if (has(s, "model.diffusion_model.head.modulation")) {
        s->prefix = comfy_prefix;
        return LOOM_OK;
    }
    if (has(s, "scale_shift_table") && has(s, "condition_embedder.time_proj.weight")) {
        s->diffusers = true;
        return LOOM_OK;
    }
    return loom_errorf(err, LOOM_ERR_INVALID,
                       "'%s' is not a Wan2.1 DiT: no tensor 'head.modulation' (original / ComfyUI "
                       "naming) or 'scale_shift_table' (diffusers)", s->path);
}

static void dir_of(const char *path, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, cap, ".");
}

int wan_source_open(const char *path, wan_source **out, loom_error *err)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return loom_errorf(err, LOOM_ERR_NOT_FOUND, "model file '%s' not found", path);
    wan_source *s = calloc(1, sizeof *s);
    if (!s)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    snprintf(s->path, sizeof s->path, "%s", path);
    s->prefix = "";
    char dir[WAN_PATH_MAX];
    int rc;
    if (S_ISDIR(st.st_mode)) {
        rc = open_diffusers_dir(s, path, err);
    } else if (ends_with(path, ".json")) {      /* config.json or the index of a folder */
        dir_of(path, dir, sizeof dir);
        rc = open_diffusers_dir(s, dir, err);
    } else if ((rc = add_shard(s, path, err)) == LOOM_OK && (rc = build_index(s, err)) == LOOM_OK &&
               (rc = detect_naming(s, err)) == LOOM_OK && s->diffusers) {
        /* One file of a diffusers folder: take the whole folder (its shards, its config). */
        dir_of(path, dir, sizeof dir);
        char index[WAN_PATH_MAX];
        join(index, dir, INDEX_JSON);
        if (is_file(index)) {
            loom_safetensors_close(s->shards[0]);
            s->n_shards = 0;
            free(s->names);
            s->names = NULL;
            s->n_names = 0;
        }
        rc = open_diffusers_dir(s, dir, err);
    }
    if (rc == LOOM_OK && !s->names && (rc = build_index(s, err)) == LOOM_OK)
        rc = detect_naming(s, err);
    if (rc == LOOM_OK)
        heads_from_metadata(s);
    if (rc != LOOM_OK) {
        wan_source_close(s);
        return rc;
    }
    *out = s;
    return LOOM_OK;
}

void wan_source_close(wan_source *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_shards; i++)
        loom_safetensors_close(s->shards[i]);
    free(s->names);
    free(s);
}
