/* vae_weights.c: opening a Wan VAE file and translating original names to diffusers ones.
 *
 * The translation is a handful of prefix rewrites (spec wan.md 4.3): top-level convs
 * (conv1 -> quant_conv, conv2 -> post_quant_conv), the stems and heads (conv1 -> conv_in,
 * head.0 -> norm_out, head.2 -> conv_out), the middle blocks (middle.{0,1,2} ->
 * mid_block.{resnets.0, attentions.0, resnets.1}), the flat encoder list (downsamples.N
 * -> down_blocks.N) and the decoder list, which diffusers groups into up blocks of
 * `up_block_modules` modules (resnets then one upsampler; counted from the file), and
 * finally the residual block parts (residual.{0,2,3,6} -> norm1, conv1, norm2, conv2;
 * shortcut -> conv_shortcut). Resample and attention parts keep their names.
 */
#include "vae_weights.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A diffusers folder: the `vae/` folder itself or a pipeline folder that holds one. */
static int find_diffusers_file(const char *dir, char *out, size_t cap, loom_error *err)
{
    static const char *const candidates[] = {"diffusion_pytorch_model.safetensors",
                                             "vae/diffusion_pytorch_model.safetensors"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        if ((size_t)snprintf(out, cap, "%s/%s", dir, candidates[i]) < cap && is_file(out))
            return LOOM_OK;
    }
    return loom_errorf(err, LOOM_ERR_NOT_FOUND,
                       "VAE folder '%s' has no diffusion_pytorch_model.safetensors (nor vae/...)", dir);
}

int vae_weights_resolve(const char *path, char *file, size_t cap, loom_error *err)
{
    if (is_dir(path))
        return find_diffusers_file(path, file, cap, err);
    if ((size_t)snprintf(file, cap, "%s", path) >= cap)
        return loom_errorf(err, LOOM_ERR_INVALID, "VAE path too long: '%s'", path);
    return LOOM_OK;
}

int vae_weights_open(const char *path, vae_weights *w, loom_error *err)
{
    memset(w, 0, sizeof *w);
    char file[4096];
    int rc = vae_weights_resolve(path, file, sizeof file, err);
    if (rc)
        return rc;
    rc = loom_safetensors_open(file, &w->st, err);
    if (rc)
        return rc;
    w->diffusers = loom_safetensors_info(w->st, "decoder.conv_in.weight", NULL, NULL, NULL) == 0;
    if (w->diffusers) {
        int resnets = 0;
        char key[128];
        for (;; resnets++) {
            snprintf(key, sizeof key, "decoder.up_blocks.0.resnets.%d.conv1.weight", resnets);
            if (loom_safetensors_info(w->st, key, NULL, NULL, NULL) != 0)
                break;
        }
        w->up_block_modules = resnets + 1;
    }
    return LOOM_OK;
}

void vae_weights_close(vae_weights *w)
{
    loom_safetensors_close(w->st);
    w->st = NULL;
}

typedef struct rewrite {
    const char *from, *to;
} rewrite;

/* Rewrite the leading `from` of *name into out; true when it matched. */
static bool take_prefix(const char **name, const rewrite *rules, size_t n, char **out, size_t *left)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(rules[i].from);
        if (strncmp(*name, rules[i].from, len) == 0) {
            int k = snprintf(*out, *left, "%s", rules[i].to);
            *out += k < (int)*left ? k : (int)*left;
            *left -= k < (int)*left ? (size_t)k : *left;
            *name += len;
            return true;
        }
    }
    return false;
}

const char *vae_weights_key(const vae_weights *w, const char *orig, char *buf, size_t cap)
{
    if (!w->diffusers) {
        snprintf(buf, cap, "%s", orig);
        return buf;
    }
    static const rewrite top[] = {
        {"conv1.", "quant_conv."},           {"conv2.", "post_quant_conv."},
        {"encoder.conv1.", "encoder.conv_in."}, {"decoder.conv1.", "decoder.conv_in."},
        {"encoder.head.0.", "encoder.norm_out."}, {"encoder.head.2.", "encoder.conv_out."},
        {"decoder.head.0.", "decoder.norm_out."}, {"decoder.head.2.", "decoder.conv_out."},
        {"encoder.middle.0.", "encoder.mid_block.resnets.0."},
        {"encoder.middle.1.", "encoder.mid_block.attentions.0."},
        {"encoder.middle.2.", "encoder.mid_block.resnets.1."},
        {"decoder.middle.0.", "decoder.mid_block.resnets.0."},
        {"decoder.middle.1.", "decoder.mid_block.attentions.0."},
        {"decoder.middle.2.", "decoder.mid_block.resnets.1."},
    };
    static const rewrite parts[] = {
        {"residual.0.", "norm1."}, {"residual.2.", "conv1."}, {"residual.3.", "norm2."},
        {"residual.6.", "conv2."}, {"shortcut.", "conv_shortcut."},
    };
    char *out = buf;
    size_t left = cap;
    const char *name = orig;
    int idx, used;
    if (!take_prefix(&name, top, sizeof top / sizeof *top, &out, &left)) {
        if (sscanf(name, "encoder.downsamples.%d.%n", &idx, &used) == 1 && used > 0) {
            int k = snprintf(out, left, "encoder.down_blocks.%d.", idx);
            out += k, left -= (size_t)k, name += used;
        } else if (sscanf(name, "decoder.upsamples.%d.%n", &idx, &used) == 1 && used > 0 &&
                   w->up_block_modules > 0) {
            int block = idx / w->up_block_modules, i = idx % w->up_block_modules;
            int k = i == w->up_block_modules - 1
                        ? snprintf(out, left, "decoder.up_blocks.%d.upsamplers.0.", block)
                        : snprintf(out, left, "decoder.up_blocks.%d.resnets.%d.", block, i);
            out += k, left -= (size_t)k, name += used;
        }
    }
    take_prefix(&name, parts, sizeof parts / sizeof *parts, &out, &left);
    snprintf(out, left, "%s", name);
    return buf;
}

bool vae_weights_has(const vae_weights *w, const char *orig)
{
    char key[256];
    return loom_safetensors_info(w->st, vae_weights_key(w, orig, key, sizeof key), NULL, NULL,
                                 NULL) == 0;
}

loom_tensor *vae_weights_get(const vae_weights *w, const char *orig, int ndim,
                             const int64_t *want, loom_error *err)
{
    char key[256], have[96];
    vae_weights_key(w, orig, key, sizeof key);
    loom_tensor *t = loom_safetensors_get(w->st, key);
    if (!t) {
        loom_errorf(err, LOOM_ERR_INVALID, "VAE file '%s' lacks tensor '%s' (is it a Wan2.1 VAE?)",
                    loom_safetensors_path(w->st), key);
        return NULL;
    }
    bool ok = t->dtype == LOOM_F32 || t->dtype == LOOM_F16 || t->dtype == LOOM_BF16;
    ok = ok && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = want[i] < 0 || t->shape[i] == want[i];
    if (!ok) {
        char expect[96] = "[";
        for (int i = 0; i < ndim; i++) {
            size_t n = strlen(expect);
            if (want[i] < 0)
                snprintf(expect + n, sizeof expect - n, "%s*", i ? ", " : "");
            else
                snprintf(expect + n, sizeof expect - n, "%s%lld", i ? ", " : "", (long long)want[i]);
        }
        strncat(expect, "] f32/f16/bf16", sizeof expect - strlen(expect) - 1);
        loom_errorf(err, LOOM_ERR_INVALID, "VAE file '%s': tensor '%s' is %s, expected %s",
                    loom_safetensors_path(w->st), key, loom_tensor_describe(t, have, sizeof have),
                    expect);
        loom_tensor_unref(t);
        return NULL;
    }
    return t;
}
