/* test_vae_nodes.c: VAELoader, VAEDecode, VAEDecodeTiled and VAEEncode through the public
 * API: a workflow loads the tiny VAE from tests/fixtures/models, decodes a fixture latent
 * (given by a test node, also as a batch of 2) and encodes fixture frames (RGBA, in a frame
 * to crop), with PreviewAny as the outputs; the values are compared with diffusers'
 * (ComfyUI's IMAGE = clamp((video + 1)/2, 0, 1)). VAEDecodeTiled with tiles larger than the
 * latent must equal VAEDecode. The workflow runs with the default precision (bf16 products
 * on AMX), then again with LOOM_VAE_F32=1, which must reload the VAE (its fingerprint
 * changes) and match closely. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "loom/loom.h"
#include "loom/types.h"

/* f32 against f32 torch, as in test_vae_model.c; (x+1)/2 halves the error. */
static const fixture_tol f32_tol = {.abs_tol = 1e-5, .rel_tol = 1e-4};
/* bf16 products: inputs of every product rounded to 8 bits through ~40 layers move the
 * tiny model's IMAGE (0..1) and latent by up to 0.018 (measured); 0.05 leaves room for
 * another AMX kernel's rounding while a wrong layout or scale still fails. */
static const fixture_tol bf16_tol = {.abs_tol = 5e-2, .rel_tol = 0};

static loom_safetensors *fx;

static int latent_exec(loom_node_ctx *ctx)
{
    loom_tensor *z = fixture_tensor(fx, "decode_T3.z_denorm");
    if (!z)
        return loom_node_fail(ctx, "no fixture latent");
    return loom_out(ctx, 0, loom_latent_value(z, NULL));
}

/* The same latent twice, as a batch of 2: VAEDecode gives both videos, frames one after
 * the other, like ComfyUI's reshape of [B, F, H, W, 3]. */
static int latent_pair_exec(loom_node_ctx *ctx)
{
    loom_tensor *z = fixture_tensor(fx, "decode_T3.z_denorm");
    loom_error err = {0};
    int64_t shape[5] = {2, 16, 3, 3, 5};
    loom_tensor *pair = z ? loom_tensor_new(LOOM_F32, 5, shape, &err) : NULL;
    if (pair) {
        memcpy(pair->data, z->data, loom_tensor_nbytes(z));
        memcpy((char *)pair->data + loom_tensor_nbytes(z), z->data, loom_tensor_nbytes(z));
    }
    loom_tensor_unref(z);
    return pair ? loom_out(ctx, 0, loom_latent_value(pair, NULL)) : loom_node_fail(ctx, "no fixture latent");
}

/* encode_F5.frames [1, 3, 5, 24, 40] in -1..1 as an RGBA IMAGE [5, 26, 43, 4] in 0..1: the
 * frames sit at (1, 1) in a border of 0.9 with alpha 0.3, so VAEEncode must drop alpha and
 * centre-crop to 24x40 (ComfyUI: offsets (26 % 8)/2 and (43 % 8)/2) to get diffusers' mu. */
static int image_exec(loom_node_ctx *ctx)
{
    loom_tensor *f = fixture_tensor(fx, "encode_F5.frames");
    loom_error err = {0};
    int64_t shape[4] = {5, 26, 43, 4}, plane = 24 * 40;
    loom_tensor *img = f ? loom_tensor_new(LOOM_F32, 4, shape, &err) : NULL;
    if (!img) {
        loom_tensor_unref(f);
        return loom_node_fail(ctx, "no fixture frames");
    }
    const float *src = f->data;
    float *dst = img->data;
    for (int64_t i = 0; i < loom_tensor_numel(img); i++)
        dst[i] = i % 4 == 3 ? 0.3f : 0.9f;
    for (int64_t t = 0; t < 5; t++)
        for (int64_t p = 0; p < plane; p++)
            for (int64_t c = 0; c < 3; c++)
                dst[((t * 26 + 1 + p / 40) * 43 + 1 + p % 40) * 4 + c] = (src[(c * 5 + t) * plane + p] + 1.0f) * 0.5f;
    loom_tensor_unref(f);
    return loom_out(ctx, 0, loom_image_value(img));
}

static const loom_output latent_out[] = {{.type = "LATENT"}};
static const loom_output image_out[] = {{.type = "IMAGE"}};
static const loom_node_type test_nodes[] = {
    {.name = "TestFixtureLatent", .outputs = latent_out, .n_outputs = 1, .execute = latent_exec},
    {.name = "TestFixtureImage", .outputs = image_out, .n_outputs = 1, .execute = image_exec},
    {.name = "TestFixtureLatentPair", .outputs = latent_out, .n_outputs = 1, .execute = latent_pair_exec},
};

static const char *workflow =
    "{\"1\": {\"class_type\": \"VAELoader\", \"inputs\": {\"vae_name\": \"wan_2.1_vae_tiny.safetensors\"}},"
    " \"2\": {\"class_type\": \"TestFixtureLatent\", \"inputs\": {}},"
    " \"3\": {\"class_type\": \"VAEDecode\", \"inputs\": {\"samples\": [\"2\", 0], \"vae\": [\"1\", 0]}},"
    " \"4\": {\"class_type\": \"PreviewAny\", \"inputs\": {\"source\": [\"3\", 0]}},"
    " \"5\": {\"class_type\": \"TestFixtureImage\", \"inputs\": {}},"
    " \"6\": {\"class_type\": \"VAEEncode\", \"inputs\": {\"pixels\": [\"5\", 0], \"vae\": [\"1\", 0]}},"
    " \"7\": {\"class_type\": \"PreviewAny\", \"inputs\": {\"source\": [\"6\", 0]}},"
    " \"8\": {\"class_type\": \"VAEDecodeTiled\", \"inputs\": {\"samples\": [\"2\", 0], \"vae\": [\"1\", 0],"
    "        \"tile_size\": 512, \"overlap\": 64, \"temporal_size\": 64, \"temporal_overlap\": 8}},"
    " \"9\": {\"class_type\": \"PreviewAny\", \"inputs\": {\"source\": [\"8\", 0]}},"
    " \"10\": {\"class_type\": \"TestFixtureLatentPair\", \"inputs\": {}},"
    " \"11\": {\"class_type\": \"VAEDecode\", \"inputs\": {\"samples\": [\"10\", 0], \"vae\": [\"1\", 0]}},"
    " \"12\": {\"class_type\": \"PreviewAny\", \"inputs\": {\"source\": [\"11\", 0]}}}";

static loom_tensor *image_of(loom_session *s, const char *node)
{
    loom_value *v = loom_session_last_value(s, node, 0);
    loom_tensor *t = v ? loom_tensor_ref(loom_value_object_ptr(v, "IMAGE")) : NULL;
    loom_value_unref(v);
    CHECK_MSG(t && t->ndim == 4, "node %s gave no IMAGE", node);
    return t;
}

static void check_outputs(loom_session *s, fixture_tol tol)
{
    loom_tensor *img = image_of(s, "3"), *tiled = image_of(s, "8"), *pair = image_of(s, "11");
    loom_tensor *video = fixture_tensor(fx, "decode_T3.video");   /* [1, 3, 9, 24, 40] */
    if (img && video) {
        CHECK(img->shape[0] == 9 && img->shape[1] == 24 && img->shape[2] == 40 && img->shape[3] == 3);
        int64_t plane = 24 * 40;
        float *want = malloc((size_t)(9 * plane * 3) * sizeof *want);
        const float *v = video->data;
        for (int64_t t = 0; t < 9; t++)
            for (int64_t p = 0; p < plane; p++)
                for (int64_t c = 0; c < 3; c++)
                    want[(t * plane + p) * 3 + c] = (v[(c * 9 + t) * plane + p] + 1.0f) * 0.5f;
        loom_tensor *w = loom_tensor_wrap(LOOM_F32, 4, img->shape, want, NULL, NULL, NULL);
        CHECK(fixture_compare("VAEDecode IMAGE", img->data, w, tol, NULL));
        /* tile_size 512 covers the whole 40x24 video: the tiled node equals the plain one. */
        CHECK(tiled && loom_tensor_same_shape(img, tiled) &&
              memcmp(img->data, tiled->data, loom_tensor_nbytes(img)) == 0);
        loom_tensor_unref(w);
        free(want);
        size_t bytes = loom_tensor_nbytes(img);
        CHECK(pair && pair->shape[0] == 18 && loom_tensor_nbytes(pair) == 2 * bytes &&
              memcmp(pair->data, img->data, bytes) == 0 &&
              memcmp((char *)pair->data + bytes, img->data, bytes) == 0);
    }
    loom_value *lv = loom_session_last_value(s, "6", 0);
    const loom_latent *lat = lv ? loom_value_object_ptr(lv, "LATENT") : NULL;
    loom_tensor *mu = fixture_tensor(fx, "encode_F5.mu");
    CHECK_MSG(lat && lat->samples->ndim == 5, "VAEEncode gave no video LATENT");
    if (lat && mu && loom_tensor_same_shape(lat->samples, mu))
        CHECK(fixture_compare("VAEEncode LATENT", lat->samples->data, mu, tol, NULL));
    else
        CHECK_MSG(0, "VAEEncode LATENT shape");
    loom_value_unref(lv);
    loom_tensor_unref(mu);
    loom_tensor_unref(video);
    loom_tensor_unref(img);
    loom_tensor_unref(tiled);
    loom_tensor_unref(pair);
}

int main(void)
{
    fx = fixture_open("vae/vae_outputs.safetensors");
    CHECK(fx != NULL);
    if (!fx)
        return check_summary("test_vae_nodes");
    char models[4096];
    snprintf(models, sizeof models, "%s/models", fixture_dir());
    loom_options opt = {.models_dir = models, .output_dir = "/tmp", .no_default_plugins = true, .quiet = true};
    loom_session *s = NULL;
    loom_error err = {0};
    CHECK(loom_session_new(&opt, &s, &err) == LOOM_OK);
    CHECK_MSG(loom_session_load_plugin(s, VAE_PLUGIN, &err) == LOOM_OK, "%s", err.msg);
    CHECK_MSG(loom_session_load_plugin(s, CORE_PLUGIN, &err) == LOOM_OK, "%s", err.msg);
    CHECK(loom_session_plugin_problem_count(s) == 0);
    for (size_t i = 0; i < LOOM_COUNT(test_nodes); i++)
        CHECK(loom_session_register_node(s, &test_nodes[i], NULL, "test", &err) == LOOM_OK);
    char *info = loom_session_object_info(s, "VAEDecodeTiled");
    CHECK_CONTAINS(info, "temporal_overlap");
    free(info);

    loom_workflow *wf = NULL;
    CHECK_MSG(loom_workflow_load_string(s, workflow, &wf, &err) == LOOM_OK, "%s", err.msg);
    if (wf) {
        unsetenv("LOOM_VAE_F32");
        CHECK_MSG(loom_run(s, wf, NULL, &err) == LOOM_OK, "%s", err.msg);
        check_outputs(s, bf16_tol);
        setenv("LOOM_VAE_F32", "1", 1);
        CHECK_MSG(loom_run(s, wf, NULL, &err) == LOOM_OK, "%s", err.msg);
        check_outputs(s, f32_tol);
        loom_workflow_free(wf);
    }
    loom_session_free(s);
    loom_safetensors_close(fx);
    return check_summary("test_vae_nodes");
}
