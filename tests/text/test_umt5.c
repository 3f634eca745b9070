/* test_umt5.c: the umT5 encoder against transformers (tests/fixtures/text_encoder/
 * umt5_outputs.safetensors) from every file form: ComfyUI fp32 naming, the diffusers
 * text_encoder/ folder, ComfyUI scaled fp8, and, made here from the fp32 file, f16 and bf16
 * copies, a sharded checkpoint with its index, and Wan's original naming. Bad files give
 * errors naming the file and tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "umt5.h"

/* fp32 weights, f32 kernels: the only differences from torch are summation order and
 * libm; 1e-4 relative is the bar, 2e-5 absolute covers values near 0. */
static const fixture_tol f32_tol = {.abs_tol = 2e-5, .rel_tol = 1e-4};

static const char *const prompts[] = {"english", "chinese", "wan_negative_default", "empty"};

static char tmpdir[256];

/* Relative RMS error of got vs want over n values. */
static double rel_rms(const float *got, const float *want, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Run every prompt; with tol NULL return the worst relative RMS error instead of asserting. */
static double check_prompts(umt5_encoder *e, loom_safetensors *ref, const char *label, const fixture_tol *tol)
{
    double worst = 0;
    const umt5_config *c = umt5_config_of(e);
    for (size_t p = 0; p < sizeof prompts / sizeof prompts[0]; p++) {
        char name[128];
        snprintf(name, sizeof name, "%s.ids", prompts[p]);
        loom_tensor *ids = loom_safetensors_get(ref, name);
        snprintf(name, sizeof name, "%s.mask", prompts[p]);
        loom_tensor *mask = loom_safetensors_get(ref, name);
        CHECK(ids && mask);
        if (!ids || !mask)
            continue;
        int64_t n = ids->shape[0], length = 0;
        for (int64_t i = 0; i < n; i++)
            length += ((const int32_t *)mask->data)[i];
        float *out = malloc((size_t)(n * c->d_model) * sizeof *out);
        loom_error err = {0};
        int rc = umt5_forward(e, ids->data, n, length, out, NULL, NULL, &err);
        CHECK_MSG(rc == LOOM_OK, "%s %s: %s", label, prompts[p], err.msg);
        char what[160];
        snprintf(name, sizeof name, "%s.raw", prompts[p]);
        loom_tensor *raw = fixture_tensor(ref, name);
        snprintf(name, sizeof name, "%s.context", prompts[p]);
        loom_tensor *ctx = fixture_tensor(ref, name);
        if (tol) {
            snprintf(what, sizeof what, "%s %s.raw", label, prompts[p]);
            CHECK(fixture_compare(what, out, raw, *tol, NULL));
            /* Wan's context: keep L rows, zero the rest */
            memset(out + length * c->d_model, 0, (size_t)((n - length) * c->d_model) * sizeof *out);
            snprintf(what, sizeof what, "%s %s.context", label, prompts[p]);
            CHECK(fixture_compare(what, out, ctx, *tol, NULL));
            /* the unpadded run (ids[:L], no mask) gives the same first L rows */
            snprintf(name, sizeof name, "%s.unpadded", prompts[p]);
            loom_tensor *unp = fixture_tensor(ref, name);
            CHECK(umt5_forward(e, ids->data, length, length, out, NULL, NULL, &err) == LOOM_OK);
            snprintf(what, sizeof what, "%s %s.unpadded", label, prompts[p]);
            CHECK(unp && fixture_compare(what, out, unp, *tol, NULL));
            loom_tensor_unref(unp);
        } else {
            double r = rel_rms(out, raw->data, length * c->d_model);
            worst = r > worst ? r : worst;
        }
        loom_tensor_unref(raw);
        loom_tensor_unref(ctx);
        loom_tensor_unref(ids);
        loom_tensor_unref(mask);
        free(out);
    }
    return worst;
}

/* Name map for the converted copies: HF naming -> Wan's original naming. */
static void wan_name(const char *hf, char *out, size_t cap)
{
    int l;
    char rest[256];
    if (!strcmp(hf, "shared.weight")) { snprintf(out, cap, "token_embedding.weight"); return; }
    if (!strcmp(hf, "encoder.final_layer_norm.weight")) { snprintf(out, cap, "norm.weight"); return; }
    if (sscanf(hf, "encoder.block.%d.%255s", &l, rest) == 2) {
        static const char *const map[][2] = {
            {"layer.0.SelfAttention.q.weight", "attn.q.weight"}, {"layer.0.SelfAttention.k.weight", "attn.k.weight"},
            {"layer.0.SelfAttention.v.weight", "attn.v.weight"}, {"layer.0.SelfAttention.o.weight", "attn.o.weight"},
            {"layer.0.SelfAttention.relative_attention_bias.weight", "pos_embedding.embedding.weight"},
            {"layer.0.layer_norm.weight", "norm1.weight"}, {"layer.1.layer_norm.weight", "norm2.weight"},
            {"layer.1.DenseReluDense.wi_0.weight", "ffn.gate.0.weight"},
            {"layer.1.DenseReluDense.wi_1.weight", "ffn.fc1.weight"}, {"layer.1.DenseReluDense.wo.weight", "ffn.fc2.weight"}};
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (!strcmp(rest, map[i][0])) { snprintf(out, cap, "blocks.%d.%s", l, map[i][1]); return; }
    }
    snprintf(out, cap, "%s", hf);
}

/* Write a copy of src with float tensors in dtype dt (and Wan names when wan is set) into
 * `shards` files <base>-<i>.safetensors plus, when shards > 1, <base>.index.json. */
static void write_copy(loom_safetensors *src, loom_dtype dt, int wan, int shards, const char *base)
{
    size_t n = loom_safetensors_count(src);
    char **names = calloc(n, sizeof *names);
    loom_tensor **ts = calloc(n, sizeof *ts);
    for (size_t i = 0; i < n; i++) {
        const char *name = loom_safetensors_name(src, i);
        loom_tensor *t = loom_safetensors_get(src, name);
        names[i] = malloc(256);
        if (wan)
            wan_name(name, names[i], 256);
        else
            snprintf(names[i], 256, "%s", name);
        ts[i] = t->dtype == LOOM_F32 && dt != LOOM_F32 ? loom_tensor_convert(t, dt, NULL) : loom_tensor_ref(t);
        loom_tensor_unref(t);
    }
    loom_error err = {0};
    FILE *index = NULL;
    char path[512];
    if (shards > 1) {
        snprintf(path, sizeof path, "%s.index.json", base);
        index = fopen(path, "w");
        fprintf(index, "{\"metadata\": {}, \"weight_map\": {");
    }
    size_t per = (n + (size_t)shards - 1) / (size_t)shards;
    for (int s = 0; s < shards; s++) {
        size_t lo = (size_t)s * per, hi = lo + per < n ? lo + per : n;
        snprintf(path, sizeof path, shards > 1 ? "%s-%d.safetensors" : "%s.safetensors", base, s);
        CHECK_MSG(loom_safetensors_write(path, hi - lo, (const char *const *)names + lo, ts + lo, NULL, &err) == LOOM_OK,
                  "%s", err.msg);
        for (size_t i = lo; index && i < hi; i++)
            fprintf(index, "%s\"%s\": \"%s\"", i ? ", " : "", names[i], strrchr(path, '/') + 1);
    }
    if (index) {
        fprintf(index, "}}\n");
        fclose(index);
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        loom_tensor_unref(ts[i]);
    }
    free(names);
    free(ts);
}

/* The fp8 fixture in ComfyUI's newer layout: `<layer>.weight_scale` plus a
 * `<layer>.comfy_quant` format record instead of `<layer>.scale_weight`. */
static void write_comfy_quant_copy(const char *src_path, const char *dst_path, const char *format)
{
    loom_safetensors *src = NULL;
    loom_error err = {0};
    CHECK(loom_safetensors_open(src_path, &src, &err) == LOOM_OK);
    if (!src)
        return;
    size_t n = loom_safetensors_count(src), k = 0;
    char **names = calloc(2 * n, sizeof *names);
    loom_tensor **ts = calloc(2 * n, sizeof *ts);
    for (size_t i = 0; i < n; i++) {
        const char *name = loom_safetensors_name(src, i);
        const char *suffix = strstr(name, ".scale_weight");
        names[k] = malloc(300);
        ts[k] = loom_safetensors_get(src, name);
        if (!suffix) {
            snprintf(names[k++], 300, "%s", name);
            continue;
        }
        snprintf(names[k++], 300, "%.*s.weight_scale", (int)(suffix - name), name);
        names[k] = malloc(300);
        snprintf(names[k], 300, "%.*s.comfy_quant", (int)(suffix - name), name);
        ts[k] = loom_tensor_new(LOOM_U8, 1, (int64_t[]){(int64_t)strlen(format)}, NULL);
        memcpy(ts[k]->data, format, strlen(format));
        k++;
    }
    CHECK_MSG(loom_safetensors_write(dst_path, k, (const char *const *)names, ts, NULL, &err) == LOOM_OK, "%s",
              err.msg);
    for (size_t i = 0; i < k; i++) {
        free(names[i]);
        loom_tensor_unref(ts[i]);
    }
    free(names);
    free(ts);
    loom_safetensors_close(src);
}

static umt5_encoder *load(const char *path)
{
    umt5_encoder *e = NULL;
    loom_error err = {0};
    CHECK_MSG(umt5_load(path, &e, &err) == LOOM_OK, "%s: %s", path, err.msg);
    return e;
}

static void check_errors(loom_safetensors *src)
{
    umt5_encoder *e = NULL;
    loom_error err = {0};
    CHECK(umt5_load("/nonexistent/models_t5_umt5-xxl-enc-bf16.pth", &e, &err) == LOOM_ERR_UNSUPPORTED && !e);
    CHECK_CONTAINS(err.msg, "safetensors");
    CHECK_CONTAINS(err.msg, "save_file");
    CHECK(umt5_load("/nonexistent/te.safetensors", &e, &err) != LOOM_OK && !e);
    CHECK_CONTAINS(err.msg, "/nonexistent/te.safetensors");
    /* a DiT is not a text encoder */
    char path[512];
    snprintf(path, sizeof path, "%s/models/vae/wan_2.1_vae_tiny.safetensors", fixture_dir());
    CHECK(umt5_load(path, &e, &err) == LOOM_ERR_INVALID && !e);
    CHECK_CONTAINS(err.msg, "not a T5");
    /* a wrong shape is named */
    const char *names[2] = {"encoder.final_layer_norm.weight", "shared.weight"};
    loom_tensor *ts[2] = {loom_safetensors_get(src, "encoder.final_layer_norm.weight"),
                          loom_tensor_new(LOOM_F32, 1, (int64_t[]){7}, NULL)};
    snprintf(path, sizeof path, "%s/broken.safetensors", tmpdir);
    CHECK(loom_safetensors_write(path, 2, names, ts, NULL, &err) == LOOM_OK);
    CHECK(umt5_load(path, &e, &err) == LOOM_ERR_INVALID && !e);
    CHECK_CONTAINS(err.msg, "shared.weight");
    loom_tensor_unref(ts[0]);
    loom_tensor_unref(ts[1]);
    /* ids outside the embedding are refused */
    snprintf(path, sizeof path, "%s/models/text_encoders/umt5_tiny_fp32.safetensors", fixture_dir());
    e = load(path);
    if (e) {
        float out[64];
        int32_t bad[2] = {5, 999999};
        CHECK(umt5_forward(e, bad, 2, 2, out, NULL, NULL, &err) == LOOM_ERR_INVALID);
        CHECK_CONTAINS(err.msg, "999999");
        umt5_free(e);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/loom_test_umt5_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    loom_safetensors *ref = fixture_open("text_encoder/umt5_outputs.safetensors");
    loom_safetensors *src = fixture_open("models/text_encoders/umt5_tiny_fp32.safetensors");
    CHECK(ref && src);
    if (!ref || !src)
        return check_summary("test_umt5");
    char path[512];

    snprintf(path, sizeof path, "%s/models/text_encoders/umt5_tiny_fp32.safetensors", fixture_dir());
    umt5_encoder *e = load(path);
    if (e) {
        const umt5_config *c = umt5_config_of(e);
        CHECK(c->d_model == 32 && c->n_heads == 4 && c->head_dim == 8 && c->d_ff == 40 && c->n_layers == 3 &&
              c->vocab == 1024 && c->n_buckets == 32);
        CHECK(umt5_spiece_model(e) != NULL);
        check_prompts(e, ref, "comfyui fp32", &f32_tol);
        umt5_free(e);
    }
    snprintf(path, sizeof path, "%s/diffusers/wan2.1_t2v_tiny/text_encoder", fixture_dir());
    if ((e = load(path))) {
        check_prompts(e, ref, "diffusers folder", &f32_tol);
        umt5_free(e);
    }
    char base[512];
    snprintf(base, sizeof base, "%s/sharded", tmpdir);
    write_copy(src, LOOM_F32, 0, 3, base);
    snprintf(path, sizeof path, "%s/sharded.index.json", tmpdir);
    if ((e = load(path))) {
        check_prompts(e, ref, "sharded index", &f32_tol);
        umt5_free(e);
    }
    snprintf(base, sizeof base, "%s/wan_names", tmpdir);
    write_copy(src, LOOM_F32, 1, 1, base);
    snprintf(path, sizeof path, "%s/wan_names.safetensors", tmpdir);
    if ((e = load(path))) {
        check_prompts(e, ref, "wan naming", &f32_tol);
        umt5_free(e);
    }
    /* Low-precision files: weights are rounded, and the matrix products run in the
     * backend's fast precision (bf16 on AMX). Bounds are the measured errors with ~2x room. */
    static const struct { loom_dtype dt; const char *name; double bound; } lowp[] = {
        {LOOM_F16, "f16", 0.02}, {LOOM_BF16, "bf16", 0.04}};
    for (size_t i = 0; i < 2; i++) {
        snprintf(base, sizeof base, "%s/%s", tmpdir, lowp[i].name);
        write_copy(src, lowp[i].dt, 0, 1, base);
        snprintf(path, sizeof path, "%s/%s.safetensors", tmpdir, lowp[i].name);
        if ((e = load(path))) {
            double r = check_prompts(e, ref, lowp[i].name, NULL);
            printf("%s weights: worst relative RMS error %.2e (bound %.2e)\n", lowp[i].name, r, lowp[i].bound);
            CHECK(r < lowp[i].bound);
            umt5_free(e);
        }
    }
    snprintf(path, sizeof path, "%s/models/text_encoders/umt5_tiny_fp8_e4m3fn_scaled.safetensors", fixture_dir());
    if ((e = load(path))) {
        CHECK_STR(umt5_weight_format(e), "F8_E4M3 scaled");
        double r = check_prompts(e, ref, "fp8", NULL);
        /* e4m3 keeps 3 mantissa bits; transformers itself, run on these dequantised weights,
         * lands 1.04e-1 from the fp32 reference, so this measures the file, not loom */
        printf("fp8_e4m3fn scaled weights: worst relative RMS error %.2e (bound 0.15)\n", r);
        CHECK(r < 0.15);
        umt5_free(e);
        /* the same weights with weight_scale + comfy_quant load to the same numbers */
        char quant[512];
        snprintf(quant, sizeof quant, "%s/comfy_quant.safetensors", tmpdir);
        write_comfy_quant_copy(path, quant, "{\"format\": \"float8_e4m3fn\"}");
        if ((e = load(quant))) {
            double r2 = check_prompts(e, ref, "fp8 comfy_quant", NULL);
            CHECK_MSG(fabs(r2 - r) < 1e-6, "comfy_quant layout %.6e vs scale_weight layout %.6e", r2, r);
            umt5_free(e);
        }
        write_comfy_quant_copy(path, quant, "{\"format\": \"nvfp4\"}");
        loom_error err = {0};
        CHECK(umt5_load(quant, &e, &err) == LOOM_ERR_UNSUPPORTED);
        CHECK_CONTAINS(err.msg, "nvfp4");
    }
    check_errors(src);
    loom_safetensors_close(ref);
    loom_safetensors_close(src);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    CHECK(system(cmd) == 0);
    return check_summary("test_umt5");
}
