/* umt5.c: the umT5 encoder: configuration from shapes, weight preparation, forward.
 *
 * Loading resolves each weight by role (embedding, q/k/v/o, relative bias, norms, gated
 * FFN) through the file's naming (ComfyUI/HF `encoder.block.N.layer.0.SelfAttention.q`,
 * possibly under a prefix, or Wan's `blocks.N.attn.q`), checks its shape against the
 * configuration read from the embedding, first q and relative-bias tables, and prepares it:
 * linears are packed once (an fp8 scale is multiplied in first), norms and bias tables are
 * copied to f32, the embedding stays a view into the mapping and rows are converted as
 * they are gathered. A layer without its own relative-bias table shares layer 0's (plain
 * T5); umT5 has one per layer.
 *
 * The forward keeps the residual stream in the caller's output buffer, takes every
 * temporary from one arena (reset per call) and runs, per layer: RMSNorm, q/k/v, fused
 * attention with scale 1 (T5 has no 1/sqrt(d)), the layer's bucketed relative bias and the
 * key mask, o accumulated into the residual, RMSNorm, gelu_tanh(x.Wi0) * (x.Wi1), wo
 * accumulated; then the final RMSNorm.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/ops.h"
#include "umt5.h"
#include "umt5_files.h"

typedef enum umt5_role { R_EMB, R_Q, R_K, R_V, R_O, R_REL, R_NORM1, R_WI0, R_WI1, R_WO, R_NORM2, R_FINAL } umt5_role;

typedef struct umt5_layer {
    loom_linear *q, *k, *v, *o, *wi0, *wi1, *wo;
    float       *rel_table;            /* [n_buckets, n_heads] */
    float       *norm_attn, *norm_ffn;
} umt5_layer;

struct umt5_encoder {
    umt5_config    cfg;
    umt5_files     files;
    int            wan_naming;
    char           prefix[256];
    loom_tensor   *embedding;          /* [vocab, d_model] view */
    float          embedding_scale;
    loom_tensor   *spiece;
    float         *final_norm;
    umt5_layer    *layers;
    loom_precision precision;
    loom_arena    *arena;            /* forward temporaries; with the linears' scratch, one */
    pthread_mutex_t lock;             /* forward at a time, so `lock` serialises callers  */
    size_t         packed_bytes;
    char           format[64];
};

/* ---- names ------------------------------------------------------------------------------ */

static void role_name(const umt5_encoder *e, umt5_role r, int64_t l, int alt, char *buf, size_t cap)
{
    static const char *const hf[] = {
        "shared.weight", "encoder.block.%lld.layer.0.SelfAttention.q.weight",
        "encoder.block.%lld.layer.0.SelfAttention.k.weight", "encoder.block.%lld.layer.0.SelfAttention.v.weight",
        "encoder.block.%lld.layer.0.SelfAttention.o.weight",
        "encoder.block.%lld.layer.0.SelfAttention.relative_attention_bias.weight",
        "encoder.block.%lld.layer.0.layer_norm.weight", "encoder.block.%lld.layer.1.DenseReluDense.wi_0.weight",
        "encoder.block.%lld.layer.1.DenseReluDense.wi_1.weight", "encoder.block.%lld.layer.1.DenseReluDense.wo.weight",
        "encoder.block.%lld.layer.1.layer_norm.weight", "encoder.final_layer_norm.weight"};
    static const char *const wan[] = {
        "token_embedding.weight", "blocks.%lld.attn.q.weight", "blocks.%lld.attn.k.weight", "blocks.%lld.attn.v.weight",
        "blocks.%lld.attn.o.weight", "blocks.%lld.pos_embedding.embedding.weight", "blocks.%lld.norm1.weight",
        "blocks.%lld.ffn.gate.0.weight", "blocks.%lld.ffn.fc1.weight", "blocks.%lld.ffn.fc2.weight",
        "blocks.%lld.norm2.weight", "norm.weight"};
    const char *fmt = e->wan_naming ? wan[r] : (r == R_EMB && alt ? "encoder.embed_tokens.weight" : hf[r]);
    int n = snprintf(buf, cap, "%s", e->prefix);
    snprintf(buf + n, cap - (size_t)n, fmt, (long long)l);
}

static loom_tensor *get_role(const umt5_encoder *e, umt5_role r, int64_t l, char *name, size_t cap)
{
    role_name(e, r, l, 0, name, cap);
    loom_tensor *t = umt5_files_get(&e->files, name);
    if (!t && r == R_EMB) {
        role_name(e, r, l, 1, name, cap);
        t = umt5_files_get(&e->files, name);
    }
    return t;
}

static int find_prefix(const char *name, void *user)
{
    static const char suffix[] = "encoder.final_layer_norm.weight";
    size_t n = strlen(name), m = sizeof suffix - 1;
    umt5_encoder *e = user;
    if (n >= m && !strcmp(name + n - m, suffix) && n - m < sizeof e->prefix) {
        memcpy(e->prefix, name, n - m);
        e->prefix[n - m] = '\0';
        return 1;
    }
    return 0;
}

/* ---- weight preparation -------------------------------------------------------------------- */

static int shape_error(const umt5_encoder *e, const char *name, const loom_tensor *t, const char *want,
                       loom_error *err)
{
    char got[96];
    return loom_errorf(err, LOOM_ERR_INVALID, "'%s': tensor '%s' is %s, expected %s", e->files.path, name,
                       loom_tensor_describe(t, got, sizeof got), want);
}

static int check_2d(const umt5_encoder *e, const char *name, const loom_tensor *t, int64_t rows, int64_t cols,
                    loom_error *err)
{
    char want[96];
    snprintf(want, sizeof want, "[%lld, %lld] float", (long long)rows, (long long)cols);
    if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols || !loom_dtype_is_float(t->dtype) ||
        t->dtype == LOOM_F64)
        return shape_error(e, name, t, want, err);
    return LOOM_OK;
}

/* The scale of a scaled-fp8 weight: `<base>.scale_weight`, or `<base>.weight_scale` with a
 * `<base>.comfy_quant` format record. 1 when the tensor has none. */
static int weight_scale(const umt5_encoder *e, const char *name, float *scale, loom_error *err)
{
    char base[512], key[600];
    size_t n = strlen(name);
    *scale = 1.0f;
    if (n < 7 || n - 7 >= sizeof base || strcmp(name + n - 7, ".weight"))
        return LOOM_OK;
    memcpy(base, name, n - 7);
    base[n - 7] = '\0';
    snprintf(key, sizeof key, "%s.comfy_quant", base);
    loom_tensor *q = umt5_files_get(&e->files, key);
    if (q) {
        char fmt[256] = "";
        size_t len = loom_tensor_nbytes(q) < sizeof fmt - 1 ? loom_tensor_nbytes(q) : sizeof fmt - 1;
        if (q->dtype == LOOM_U8)
            memcpy(fmt, q->data, len);
        loom_tensor_unref(q);
        if (!strstr(fmt, "float8_e4m3fn") && !strstr(fmt, "float8_e5m2"))
            return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "'%s': %s uses quantisation '%s'; loom reads the "
                               "float8_e4m3fn / float8_e5m2 scaled formats", e->files.path, key, fmt);
    }
    snprintf(key, sizeof key, "%s.scale_weight", base);
    loom_tensor *s = umt5_files_get(&e->files, key);
    if (!s) {
        snprintf(key, sizeof key, "%s.weight_scale", base);
        s = umt5_files_get(&e->files, key);
    }
    if (!s)
        return LOOM_OK;
    loom_tensor *f = loom_tensor_numel(s) == 1 && loom_dtype_is_float(s->dtype) ? loom_tensor_to_f32(s, err) : NULL;
    loom_tensor_unref(s);
    if (!f)
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "'%s': %s is not one float (per-channel or block scales "
                           "are not supported for text encoders)", e->files.path, key);
    *scale = ((const float *)f->data)[0];
    loom_tensor_unref(f);
    if (!isfinite(*scale))
        return loom_errorf(err, LOOM_ERR_INVALID, "'%s': %s is not finite", e->files.path, key);
    return LOOM_OK;
}

static int make_linear(umt5_encoder *e, umt5_role r, int64_t l, int64_t rows, int64_t cols, loom_linear **out,
                       loom_error *err)
{
    char name[512];
    loom_tensor *t = get_role(e, r, l, name, sizeof name);
    if (!t)
        return loom_errorf(err, LOOM_ERR_NOT_FOUND, "'%s': tensor '%s' is missing", e->files.path, name);
    float scale;
    int rc = check_2d(e, name, t, rows, cols, err);
    if (rc == LOOM_OK)
        rc = weight_scale(e, name, &scale, err);
    if (rc) {
        loom_tensor_unref(t);
        return rc;
    }
    loom_linear_opts opts = {.backend = LOOM_BACKEND_AUTO, .precision = e->precision};
    if (scale == 1.0f) {
        *out = loom_linear_new_ex(t, NULL, &opts, err);
    } else {   /* fold the fp8 scale in before packing: W = fp8 * scale, as ComfyUI dequantises */
        loom_tensor *w = loom_tensor_to_f32(t, err);
        if (w) {
            float *p = w->data;
            for (int64_t i = 0; i < rows * cols; i++)
                p[i] *= scale;
            *out = loom_linear_new_f32(p, NULL, rows, cols, &opts, err);
            loom_tensor_unref(w);
        } else {
            *out = NULL;
        }
    }
    if (*out) loom_safetensors_drop_pages(t);   /* packed: the file's copy need not stay resident */
    loom_tensor_unref(t);
    if (!*out)
        return loom_error_prefix(err, "'%s': tensor '%s': ", e->files.path, name);
    loom_backend be = loom_linear_backend(*out);
    e->packed_bytes += (size_t)(rows * cols) * (be == LOOM_BACKEND_AMX || be == LOOM_BACKEND_ONEDNN ? 2 : 4);
    return LOOM_OK;
}

/* A [n] (or [rows, cols]) float tensor copied to f32. */
static int copy_f32(umt5_encoder *e, umt5_role r, int64_t l, int64_t rows, int64_t cols, float **out,
                    loom_error *err)
{
    char name[512];
    loom_tensor *t = get_role(e, r, l, name, sizeof name);
    if (!t)
        return loom_errorf(err, LOOM_ERR_NOT_FOUND, "'%s': tensor '%s' is missing", e->files.path, name);
    int ok = loom_dtype_is_float(t->dtype) &&
             (rows ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols) : (t->ndim == 1 && t->shape[0] == cols));
    if (!ok) {
        char want[96];
        snprintf(want, sizeof want, rows ? "[%lld, %lld] float" : "[%lld] float", (long long)(rows ? rows : cols),
                 (long long)cols);
        int rc = shape_error(e, name, t, want, err);
        loom_tensor_unref(t);
        return rc;
    }
    int64_t n = (rows ? rows : 1) * cols;
    *out = malloc((size_t)n * sizeof(float));
    if (*out)
        loom_convert_to_f32(t->dtype, t->data, *out, n);
    loom_tensor_unref(t);
    return *out ? LOOM_OK : loom_errorf(err, LOOM_ERR_NOMEM, "'%s': out of memory", e->files.path);
}

/* Configuration from shapes: embedding [vocab, D], q [inner, D], rel bias [buckets, heads],
 * wi_0 [F, D], and the number of consecutive layers that have a q weight. */
static int read_config(umt5_encoder *e, loom_error *err)
{
    char name[512];
    umt5_config *c = &e->cfg;
    loom_tensor *emb = get_role(e, R_EMB, 0, name, sizeof name);
    if (!emb)
        return loom_errorf(err, LOOM_ERR_NOT_FOUND, "'%s': no token embedding ('%s')", e->files.path, name);
    e->embedding = emb;
    if (emb->ndim != 2 || emb->shape[0] <= 0 || emb->shape[1] <= 0 || !loom_dtype_is_float(emb->dtype))
        return shape_error(e, name, emb, "[vocab, d_model] float", err);
    c->vocab = emb->shape[0];
    c->d_model = emb->shape[1];
    int rc = weight_scale(e, name, &e->embedding_scale, err);
    if (rc)
        return rc;
    loom_tensor *q = get_role(e, R_Q, 0, name, sizeof name);
    loom_tensor *rel = q ? get_role(e, R_REL, 0, name, sizeof name) : NULL;
    loom_tensor *wi0 = rel ? get_role(e, R_WI0, 0, name, sizeof name) : NULL;
    if (!wi0)
        rc = loom_errorf(err, LOOM_ERR_NOT_FOUND, "'%s': layer 0 is incomplete ('%s' is missing)", e->files.path, name);
    else if (q->ndim != 2 || rel->ndim != 2 || wi0->ndim != 2 || rel->shape[1] <= 0 || rel->shape[0] < 4 ||
             rel->shape[0] % 2 || q->shape[0] % rel->shape[1] || q->shape[0] <= 0 || wi0->shape[0] <= 0)
        rc = loom_errorf(err, LOOM_ERR_INVALID, "'%s': layer 0 shapes do not form a T5 encoder (q [inner, d_model] "
                         "with inner a multiple of the heads of the relative bias [buckets, heads])", e->files.path);
    if (rc == LOOM_OK) {
        c->n_heads = rel->shape[1];
        c->n_buckets = rel->shape[0];
        c->head_dim = q->shape[0] / c->n_heads;
        c->d_ff = wi0->shape[0];
        c->eps = 1e-6f;
    }
    loom_tensor_unref(q);
    loom_tensor_unref(rel);
    loom_tensor_unref(wi0);
    if (rc)
        return rc;
    for (c->n_layers = 0; c->n_layers <= UMT5_MAX_LAYERS; c->n_layers++) {
        loom_tensor *t = get_role(e, R_Q, c->n_layers, name, sizeof name);
        if (!t)
            break;
        loom_tensor_unref(t);
    }
    if (c->n_layers > UMT5_MAX_LAYERS)
        return loom_errorf(err, LOOM_ERR_INVALID, "'%s': more than %d layers", e->files.path, UMT5_MAX_LAYERS);
    return LOOM_OK;
}

/* What the linear weights are stored as (from layer 0's q), and the matching precision. */
static void weight_format(umt5_encoder *e)
{
    char name[512];
    loom_tensor *q = get_role(e, R_Q, 0, name, sizeof name);
    float scale = 1.0f;
    loom_error ignored;
    weight_scale(e, name, &scale, &ignored);
    snprintf(e->format, sizeof e->format, "%s%s", loom_dtype_name(q->dtype), scale != 1.0f ? " scaled" : "");
    e->precision = q->dtype == LOOM_F32 ? LOOM_PREC_F32 : LOOM_PREC_AUTO;
    loom_tensor_unref(q);
}

static int load_layer(umt5_encoder *e, int64_t l, loom_error *err)
{
    const umt5_config *c = &e->cfg;
    umt5_layer *L = &e->layers[l];
    int64_t inner = c->n_heads * c->head_dim;
    char name[512];
    int rc = make_linear(e, R_Q, l, inner, c->d_model, &L->q, err);
    if (!rc) rc = make_linear(e, R_K, l, inner, c->d_model, &L->k, err);
    if (!rc) rc = make_linear(e, R_V, l, inner, c->d_model, &L->v, err);
    if (!rc) rc = make_linear(e, R_O, l, c->d_model, inner, &L->o, err);
    if (!rc) rc = make_linear(e, R_WI0, l, c->d_ff, c->d_model, &L->wi0, err);
    if (!rc) rc = make_linear(e, R_WI1, l, c->d_ff, c->d_model, &L->wi1, err);
    if (!rc) rc = make_linear(e, R_WO, l, c->d_model, c->d_ff, &L->wo, err);
    if (!rc) rc = copy_f32(e, R_NORM1, l, 0, c->d_model, &L->norm_attn, err);
    if (!rc) rc = copy_f32(e, R_NORM2, l, 0, c->d_model, &L->norm_ffn, err);
    if (!rc) {
        loom_tensor *rel = get_role(e, R_REL, l, name, sizeof name);   /* plain T5: layer 0's only */
        loom_tensor_unref(rel);
        rc = copy_f32(e, R_REL, rel ? l : 0, c->n_buckets, c->n_heads, &L->rel_table, err);
    }
    return rc;
}

int umt5_load(const char *path, umt5_encoder **out, loom_error *err)
{
    *out = NULL;
    umt5_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory loading '%s'", path);
    pthread_mutex_init(&e->lock, NULL);
    int rc = umt5_files_open(path, &e->files, err);
    if (rc) {
        pthread_mutex_destroy(&e->lock);
        free(e);
        return rc;
    }
    if (!umt5_files_each_name(&e->files, find_prefix, e)) {
        loom_tensor *t = umt5_files_get(&e->files, "blocks.0.attn.q.weight");
        e->wan_naming = t != NULL;
        loom_tensor_unref(t);
        if (!e->wan_naming)
            rc = loom_errorf(err, LOOM_ERR_INVALID, "'%s' is not a T5/umT5 text encoder: it has neither "
                             "'encoder.final_layer_norm.weight' nor Wan's 'blocks.0.attn.q.weight'", path);
    }
    if (!rc) rc = read_config(e, err);
    if (!rc) {
        weight_format(e);
        e->layers = calloc((size_t)e->cfg.n_layers ? (size_t)e->cfg.n_layers : 1, sizeof *e->layers);
        if (!e->layers)
            rc = loom_errorf(err, LOOM_ERR_NOMEM, "out of memory loading '%s'", path);
    }
    for (int64_t l = 0; !rc && l < e->cfg.n_layers; l++)
        rc = load_layer(e, l, err);
    if (!rc) rc = copy_f32(e, R_FINAL, 0, 0, e->cfg.d_model, &e->final_norm, err);
    if (!rc) {
        e->spiece = umt5_files_get(&e->files, "spiece_model");
        if (e->spiece && (e->spiece->dtype != LOOM_U8 || e->spiece->ndim != 1)) {
            loom_tensor_unref(e->spiece);
            e->spiece = NULL;
        }
        e->arena = loom_arena_new(1 << 20, err);
        if (!e->arena)
            rc = LOOM_ERR_NOMEM;
    }
    if (rc) {
        umt5_free(e);
        return rc;
    }
    *out = e;
    return LOOM_OK;
}

void umt5_free(umt5_encoder *e)
{
    if (!e)
        return;
    for (int64_t l = 0; e->layers && l < e->cfg.n_layers; l++) {
        umt5_layer *L = &e->layers[l];
        loom_linear *lin[] = {L->q, L->k, L->v, L->o, L->wi0, L->wi1, L->wo};
        for (size_t i = 0; i < sizeof lin / sizeof lin[0]; i++)
            loom_linear_free(lin[i]);
        free(L->rel_table);
        free(L->norm_attn);
        free(L->norm_ffn);
    }
    free(e->layers);
    free(e->final_norm);
    loom_tensor_unref(e->embedding);
    loom_tensor_unref(e->spiece);
    loom_arena_free(e->arena);
    umt5_files_close(&e->files);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

const umt5_config *umt5_config_of(const umt5_encoder *e) { return &e->cfg; }
const loom_tensor *umt5_spiece_model(const umt5_encoder *e) { return e->spiece; }
size_t umt5_bytes(const umt5_encoder *e) { return e->packed_bytes; }
const char *umt5_weight_format(const umt5_encoder *e) { return e->format; }

/* ---- forward -------------------------------------------------------------------------------- */

/* T5's bidirectional bucket of rel = key - query, computed in f32 as transformers does. */
static int rel_bucket(int64_t rel, int64_t n_buckets)
{
    int64_t half = n_buckets / 2, max_exact = half / 2, bucket = rel > 0 ? half : 0;
    int64_t n = rel < 0 ? -rel : rel;
    if (n < max_exact)
        return (int)(bucket + n);
    float scaled = logf((float)n / (float)max_exact) / logf((float)UMT5_REL_MAX_DISTANCE / (float)max_exact) *
                   (float)(half - max_exact);
    int64_t large = max_exact + (int64_t)scaled;
    return (int)(bucket + (large < half - 1 ? large : half - 1));
}

static int forward_locked(umt5_encoder *e, const int32_t *ids, int64_t n, int64_t length, float *out,
                          umt5_progress_fn progress, void *user, loom_error *err)
{
    const umt5_config *c = &e->cfg;
    if (n <= 0 || n > UMT5_MAX_TOKENS || length <= 0 || length > n)
        return loom_errorf(err, LOOM_ERR_INVALID, "umT5: %lld tokens with %lld real ones; need 1 <= real <= tokens "
                           "<= %d", (long long)n, (long long)length, UMT5_MAX_TOKENS);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return loom_errorf(err, LOOM_ERR_INVALID, "umT5: token id %d at position %lld is outside the "
                               "embedding (%lld rows); tokenizer and encoder do not match", ids[i], (long long)i,
                               (long long)c->vocab);
    const int64_t D = c->d_model, H = c->n_heads, inner = H * c->head_dim, F = c->d_ff, R = 2 * n - 1;
    if (err)
        loom_error_clear(err);
    loom_arena_reset(e->arena, 0);
    float *y = loom_arena_f32(e->arena, n * D), *q = loom_arena_f32(e->arena, n * inner);
    float *k = loom_arena_f32(e->arena, n * inner), *v = loom_arena_f32(e->arena, n * inner);
    float *att = loom_arena_f32(e->arena, n * inner), *a = loom_arena_f32(e->arena, n * F);
    float *b = loom_arena_f32(e->arena, n * F), *rel = loom_arena_f32(e->arena, H * R);
    int *bucket = loom_arena_alloc(e->arena, (size_t)R * sizeof *bucket);
    uint8_t *mask = loom_arena_alloc(e->arena, (size_t)n);
    if (!y || !q || !k || !v || !att || !a || !b || !rel || !bucket || !mask)
        return loom_errorf(err, LOOM_ERR_NOMEM, "umT5: out of memory for %lld tokens", (long long)n);
    size_t row_bytes = (size_t)D * loom_dtype_size(e->embedding->dtype);
    for (int64_t i = 0; i < n; i++) {
        float *x = out + i * D;
        loom_convert_to_f32(e->embedding->dtype, (const char *)e->embedding->data + (size_t)ids[i] * row_bytes, x, D);
        if (e->embedding_scale != 1.0f)
            for (int64_t d = 0; d < D; d++)
                x[d] *= e->embedding_scale;
        mask[i] = i < length;
    }
    for (int64_t off = -(n - 1); off <= n - 1; off++)
        bucket[off + n - 1] = rel_bucket(off, c->n_buckets);
    loom_attention_params ap = {.sq = n, .sk = n, .heads = (int)H, .head_dim = (int)c->head_dim, .q = q, .k = k,
                                .v = v, .out = att, .scale = 1.0f, .rel_bias = rel, .key_mask = mask,
                                .precision = e->precision == LOOM_PREC_F32 ? LOOM_PREC_F32 : LOOM_PREC_AUTO,
                                .scratch = e->arena};
    const size_t layer_mark = loom_arena_mark(e->arena);   /* attention's K/V scratch goes above */
    int rc = LOOM_OK;
    for (int64_t l = 0; l < c->n_layers && rc == LOOM_OK; l++) {
        const umt5_layer *L = &e->layers[l];
        loom_arena_reset(e->arena, layer_mark);
        loom_rmsnorm(out, n, D, L->norm_attn, c->eps, y);
        loom_linear *qkv[3] = {L->q, L->k, L->v};
        float *qkv_out[3] = {q, k, v};
        rc = loom_linear_forward_group(qkv, 3, y, n, D, qkv_out);
        for (int64_t h = 0; h < H; h++)
            for (int64_t r = 0; r < R; r++)
                rel[h * R + r] = L->rel_table[bucket[r] * H + h];
        if (!rc) rc = loom_attention(&ap, err);
        if (!rc) rc = loom_linear_forward_ex(L->o, att, n, inner, out, D, LOOM_ACT_NONE, LOOM_LINEAR_ACCUMULATE);
        loom_rmsnorm(out, n, D, L->norm_ffn, c->eps, y);
        loom_linear *wi[2] = {L->wi0, L->wi1};
        float *wi_out[2] = {a, b};
        if (!rc) rc = loom_linear_forward_group(wi, 2, y, n, D, wi_out);
        loom_gated_gelu(a, b, n * F, a);
        if (!rc) rc = loom_linear_forward_ex(L->wo, a, n, F, out, D, LOOM_ACT_NONE, LOOM_LINEAR_ACCUMULATE);
        if (rc && rc != LOOM_ERR_INTERRUPTED && err && !err->msg[0])
            loom_errorf(err, rc, "umT5: a matrix product of layer %lld failed", (long long)l);
        if (!rc && progress)
            rc = progress(user, l + 1, c->n_layers);
    }
    if (rc == LOOM_OK)
        loom_rmsnorm(out, n, D, e->final_norm, c->eps, out);
    return rc;
}

int umt5_forward(umt5_encoder *e, const int32_t *ids, int64_t n, int64_t length, float *out,
                 umt5_progress_fn progress, void *user, loom_error *err)
{
    pthread_mutex_lock(&e->lock);
    int rc = forward_locked(e, ids, n, length, out, progress, user, err);
    pthread_mutex_unlock(&e->lock);
    return rc;
}
