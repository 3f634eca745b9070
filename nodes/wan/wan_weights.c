/* wan_weights.c: loading a Wan DiT's parameters into prepacked form.
 *
 * Every nn.Linear (and the patch-embedding Conv3d, whose kernel equals its stride, so it is
 * a linear over flattened patches) becomes a loom_linear: the one converted copy of the
 * weights, packed for the backend at load. A linear stored as it will be used (2-D f32 /
 * f16 / bf16, no scale) is packed straight from the file's mapping; a scaled-fp8 weight
 * (ComfyUI's "*_fp8_scaled": fp8 value x the float32 scalar <layer>.scale_weight), a
 * weight to be rounded through fp8 (UNETLoader weight_dtype) or one a LoRA changes
 * (wan_weight_patch) passes through a temporary f32 copy. Norm gains and modulation tables are copied to f32. Every shape is checked
 * against the detected config, and the error names the tensor as the file spells it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wan_dit.h"

typedef struct loader {
    wan_source      *src;
    loom_linear_opts linear;
    loom_dtype       weight_round;
    const wan_weight_patch *patch;
    size_t           bytes;
    loom_error      *err;
} loader;

static int bad_shape(loader *L, const char *name, const loom_tensor *t, const char *want)
{
    char fname[512], d[128];
    return loom_errorf(L->err, LOOM_ERR_INVALID, "'%s': tensor '%s' is %s, expected %s",
                       wan_source_path(L->src), wan_source_file_name(L->src, name, fname, sizeof fname),
                       loom_tensor_describe(t, d, sizeof d), want);
}

/* A float tensor of exactly n elements as a new f32 array. */
static float *load_vector(loader *L, const char *name, int64_t n)
{
    loom_tensor *t = wan_source_require(L->src, name, L->err);
    if (!t)
        return NULL;
    float *v = NULL;
    if (loom_tensor_numel(t) != n || !loom_dtype_is_float(t->dtype)) {
        char want[64];
        snprintf(want, sizeof want, "%lld float values", (long long)n);
        bad_shape(L, name, t, want);
    } else if (!(v = malloc((size_t)n * sizeof *v))) {
        loom_errorf(L->err, LOOM_ERR_NOMEM, "out of memory loading '%s'", name);
    } else {
        loom_convert_to_f32(t->dtype, t->data, v, n);
        L->bytes += (size_t)n * sizeof *v;
    }
    loom_tensor_unref(t);
    return v;
}

/* The scalar that dequantises a scaled-fp8 weight (1 when the layer has none). */
static int weight_scale(loader *L, const char *layer, float *scale)
{
    char name[256];
    *scale = 1.0f;
    snprintf(name, sizeof name, "%s.scale_weight", layer);
    loom_tensor *t = wan_source_get(L->src, name);
    if (!t) {
        snprintf(name, sizeof name, "%s.weight_scale", layer);
        t = wan_source_get(L->src, name);
    }
    if (!t)
        return LOOM_OK;
    int rc = LOOM_OK;
    if (loom_tensor_numel(t) != 1 || !loom_dtype_is_float(t->dtype))
        rc = bad_shape(L, name, t, "one float (a per-tensor scale)");
    else
        loom_convert_to_f32(t->dtype, t->data, scale, 1);
    loom_tensor_unref(t);
    return rc;
}

/* An f32 copy of w, dequantised, optionally rounded through L->weight_round, then patched. */
static loom_tensor *weight_f32(loader *L, const char *layer, const loom_tensor *w, float scale)
{
    loom_tensor *f = loom_tensor_to_f32(w, L->err);
    if (!f)
        return NULL;
    float *p = f->data;
    int64_t n = loom_tensor_numel(f);
    for (int64_t i = 0; i < n && scale != 1.0f; i++)
        p[i] *= scale;
    if (L->weight_round != LOOM_F32) {
        loom_tensor *r = loom_tensor_convert(f, L->weight_round, L->err), *back;
        back = r ? loom_tensor_to_f32(r, L->err) : NULL;
        loom_tensor_unref(r);
        loom_tensor_unref(f);
        f = back;
    }
    if (f && L->patch && L->patch->has(L->patch->user, layer) &&
        L->patch->apply(L->patch->user, layer, f->data, w->shape[0], loom_tensor_numel(w) / w->shape[0], L->err)) {
        loom_tensor_unref(f);
        f = NULL;
    }
    return f;
}

/* <layer>.weight [N, K...] (K = product of the trailing dims) and <layer>.bias [N]. */
static loom_linear *load_linear(loader *L, const char *layer, int64_t N, int64_t K)
{
    char wname[256], bname[256];
    snprintf(wname, sizeof wname, "%s.weight", layer);
    snprintf(bname, sizeof bname, "%s.bias", layer);
    loom_tensor *w = wan_source_require(L->src, wname, L->err), *b = NULL, *w32 = NULL, *b32 = NULL;
    loom_linear *l = NULL;
    float scale;
    if (!w)
        return NULL;
    if (w->ndim < 2 || w->shape[0] != N || loom_tensor_numel(w) != N * K || !loom_dtype_is_float(w->dtype)) {
        char want[96];
        snprintf(want, sizeof want, "[%lld, %lld] floats (or a kernel of that volume)", (long long)N, (long long)K);
        bad_shape(L, wname, w, want);
        goto done;
    }
    if (!(b = wan_source_require(L->src, bname, L->err)))
        goto done;
    if (loom_tensor_numel(b) != N || !loom_dtype_is_float(b->dtype)) {
        char want[64];
        snprintf(want, sizeof want, "[%lld] floats", (long long)N);
        bad_shape(L, bname, b, want);
        goto done;
    }
    if (weight_scale(L, layer, &scale) != LOOM_OK)
        goto done;
    bool patched = L->patch && L->patch->has(L->patch->user, layer);
    if (scale == 1.0f && w->ndim == 2 && L->weight_round == LOOM_F32 && !patched &&
        (w->dtype == LOOM_F32 || w->dtype == LOOM_F16 || w->dtype == LOOM_BF16)) {
        l = loom_linear_new_ex(w, b, &L->linear, L->err);
    } else if ((w32 = weight_f32(L, layer, w, scale)) && (b32 = loom_tensor_to_f32(b, L->err))) {
        l = loom_linear_new_f32(w32->data, b32->data, N, K, &L->linear, L->err);
    }
    if (!l) {
        char fname[512];
        loom_error_prefix(L->err, "'%s': tensor '%s': ", wan_source_path(L->src),
                          wan_source_file_name(L->src, wname, fname, sizeof fname));
        goto done;
    }
    loom_backend be = loom_linear_backend(l);
    L->bytes += (size_t)(N * K + N) * (be == LOOM_BACKEND_AMX || be == LOOM_BACKEND_ONEDNN ? 2 : 4);
    loom_safetensors_drop_pages(w);     /* packed: the file's copy need not stay resident */
done:
    loom_tensor_unref(w);
    loom_tensor_unref(b);
    loom_tensor_unref(w32);
    loom_tensor_unref(b32);
    return l;
}

static int load_block(loader *L, const wan_config *c, int i, wan_block_weights *bw)
{
    const int64_t D = c->dim, F = c->ffn_dim;
    char n[128];
#define NAME(suffix) (snprintf(n, sizeof n, "blocks.%d.%s", i, suffix), n)
    if (!(bw->modulation = load_vector(L, NAME("modulation"), 6 * D)) ||
        !(bw->self_q = load_linear(L, NAME("self_attn.q"), D, D)) ||
        !(bw->self_k = load_linear(L, NAME("self_attn.k"), D, D)) ||
        !(bw->self_v = load_linear(L, NAME("self_attn.v"), D, D)) ||
        !(bw->self_o = load_linear(L, NAME("self_attn.o"), D, D)) ||
        !(bw->self_norm_q = load_vector(L, NAME("self_attn.norm_q.weight"), D)) ||
        !(bw->self_norm_k = load_vector(L, NAME("self_attn.norm_k.weight"), D)) ||
        !(bw->norm3_weight = load_vector(L, NAME("norm3.weight"), D)) ||
        !(bw->norm3_bias = load_vector(L, NAME("norm3.bias"), D)) ||
        !(bw->cross_q = load_linear(L, NAME("cross_attn.q"), D, D)) ||
        !(bw->cross_k = load_linear(L, NAME("cross_attn.k"), D, D)) ||
        !(bw->cross_v = load_linear(L, NAME("cross_attn.v"), D, D)) ||
        !(bw->cross_o = load_linear(L, NAME("cross_attn.o"), D, D)) ||
        !(bw->cross_norm_q = load_vector(L, NAME("cross_attn.norm_q.weight"), D)) ||
        !(bw->cross_norm_k = load_vector(L, NAME("cross_attn.norm_k.weight"), D)) ||
        !(bw->ffn_in = load_linear(L, NAME("ffn.0"), F, D)) ||
        !(bw->ffn_out = load_linear(L, NAME("ffn.2"), D, F)))
        return L->err->code ? L->err->code : LOOM_ERR_INVALID;
#undef NAME
    return LOOM_OK;
}

static int load_all(loader *L, wan_dit *m)
{
    const wan_config *c = &m->cfg;
    const int64_t D = c->dim, P = (int64_t)c->patch[0] * c->patch[1] * c->patch[2];
    if (!(m->patch_embed = load_linear(L, "patch_embedding", D, c->in_dim * P)) ||
        !(m->text_in = load_linear(L, "text_embedding.0", D, c->text_dim)) ||
        !(m->text_out = load_linear(L, "text_embedding.2", D, D)) ||
        !(m->time_in = load_linear(L, "time_embedding.0", D, c->freq_dim)) ||
        !(m->time_out = load_linear(L, "time_embedding.2", D, D)) ||
        !(m->time_proj = load_linear(L, "time_projection.1", 6 * D, D)) ||
        !(m->head_modulation = load_vector(L, "head.modulation", 2 * D)) ||
        !(m->head = load_linear(L, "head.head", P * c->out_dim, D)))
        return L->err->code ? L->err->code : LOOM_ERR_INVALID;
    if (!(m->blocks = calloc((size_t)c->num_layers, sizeof *m->blocks)))
        return loom_errorf(L->err, LOOM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->num_layers; i++) {
        int rc = load_block(L, c, i, &m->blocks[i]);
        if (rc)
            return rc;
    }
    return wan_source_check_all_used(L->src, L->err);
}

int wan_dit_load(const char *path, const wan_load_opts *opts, wan_dit **out, loom_error *err)
{
    wan_load_opts o = opts ? *opts : (wan_load_opts){LOOM_PREC_AUTO, LOOM_F32, NULL};
    *out = NULL;
    wan_source *src;
    int rc = wan_source_open(path, &src, err);
    if (rc)
        return rc;
    wan_dit *m = calloc(1, sizeof *m);
    if (!m) {
        wan_source_close(src);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    }
    m->precision = o.precision;
    m->opts = (wan_load_opts){o.precision, o.weight_round, NULL};
    if (!(m->path = strdup(path))) {
        wan_source_close(src);
        wan_dit_free(m);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    }
    loader L = {src, {LOOM_BACKEND_AUTO, o.precision}, o.weight_round, o.patch, 0, err};
    if ((rc = wan_config_detect(src, &m->cfg, err)) == LOOM_OK)
        rc = load_all(&L, m);
    m->bytes = L.bytes;
    wan_source_close(src);
    if (rc) {
        wan_dit_free(m);
        return rc;
    }
    *out = m;
    return LOOM_OK;
}

static void free_block(wan_block_weights *b)
{
    loom_linear *lin[] = {b->self_q, b->self_k, b->self_v, b->self_o, b->cross_q,
                          b->cross_k, b->cross_v, b->cross_o, b->ffn_in, b->ffn_out};
    float *vec[] = {b->modulation, b->self_norm_q, b->self_norm_k, b->norm3_weight,
                    b->norm3_bias, b->cross_norm_q, b->cross_norm_k};
    for (size_t i = 0; i < sizeof lin / sizeof *lin; i++)
        loom_linear_free(lin[i]);
    for (size_t i = 0; i < sizeof vec / sizeof *vec; i++)
        free(vec[i]);
}

void wan_dit_free(wan_dit *m)
{
    if (!m)
        return;
    for (int i = 0; m->blocks && i < m->cfg.num_layers; i++)
        free_block(&m->blocks[i]);
    free(m->blocks);
    loom_linear *lin[] = {m->patch_embed, m->text_in, m->text_out, m->time_in,
                          m->time_out, m->time_proj, m->head};
    for (size_t i = 0; i < sizeof lin / sizeof *lin; i++)
        loom_linear_free(lin[i]);
    free(m->head_modulation);
    free(m->path);
    wan_lora_unref(m->lora);
    free(m);
}
