/* text_nodes.c: the text-encoder nodes, with ComfyUI's names and inputs: CLIPLoader and
 * CLIPTextEncode, plus TextEncodeWanOfficial for Wan's own text path.
 *
 * CLIPLoader turns a file of models/text_encoders (or models/clip) into a CLIP object
 * (text_clip.h); its cache key carries the file's size and mtime, so a replaced file
 * reloads. CLIPTextEncode is ComfyUI's Wan encoder exactly: no cleaning, weighting syntax,
 * padding to >= 512 tokens, no truncation. TextEncodeWanOfficial is what Wan's generate.py
 * and diffusers' WanPipeline do: prompt cleaning, no weighting syntax, 511 tokens + EOS,
 * padded to 512. Both output CONDITIONING with a [1, n, d] context whose rows after the
 * real tokens are zero (docs/conditioning.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loom/plugin.h"
#include "loom/types.h"
#include "text_clip.h"
#include "wan_clean.h"

#define TEXT_ENCODER_FOLDERS "text_encoders;clip"
/* Wan's official pipeline truncates/pads to this many tokens (text_len 512). */
#define WAN_OFFICIAL_TOKENS 512

static void destroy_clip(void *obj) { text_clip_free(obj); }

static int clip_loader(loom_node_ctx *ctx)
{
    const char *type = loom_in_str(ctx, "type");
    if (strcmp(type, "wan"))
        return loom_node_fail_code(ctx, LOOM_ERR_UNSUPPORTED, "CLIP type '%s' is not supported; loom has the "
                                   "umT5 encoder of type 'wan'", type);
    char path[4096];
    int rc = loom_model_path(ctx, TEXT_ENCODER_FOLDERS, loom_in_str(ctx, "clip_name"), path, sizeof path);
    if (rc)
        return rc;
    text_clip *clip;
    loom_error err = {0};
    if (text_clip_load(path, &clip, &err))
        return loom_node_fail_err(ctx, &err);
    const umt5_config *c = umt5_config_of(clip->encoder);
    loom_node_log(ctx, "umT5: d_model %lld, %lld layers, %lld heads x %lld, ffn %lld, vocab %lld, weights %s, "
                  "%.1f MB packed; tokenizer %s", (long long)c->d_model, (long long)c->n_layers,
                  (long long)c->n_heads, (long long)c->head_dim, (long long)c->d_ff, (long long)c->vocab,
                  umt5_weight_format(clip->encoder), (double)umt5_bytes(clip->encoder) / 1e6,
                  clip->tokenizer_source);
    loom_value *v = loom_value_object(TEXT_CLIP_TYPE, clip, destroy_clip, umt5_bytes(clip->encoder));
    if (!v) {
        text_clip_free(clip);
        return loom_node_fail_code(ctx, LOOM_ERR_NOMEM, "out of memory");
    }
    return loom_out(ctx, 0, v);
}

/* Size and mtime of the chosen file (or folder). */
static int clip_fingerprint(loom_node_ctx *ctx, char *buf, size_t cap)
{
    char path[4096];
    struct stat st;
    if (loom_model_path(ctx, TEXT_ENCODER_FOLDERS, loom_in_str(ctx, "clip_name"), path, sizeof path) ||
        stat(path, &st) != 0)
        return LOOM_ERR_NOT_FOUND;
    snprintf(buf, cap, "%lld:%lld.%09ld", (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    return LOOM_OK;
}

static int report_layer(void *user, int64_t done, int64_t total)
{
    return loom_progress(user, done, total);
}

/* Tokens -> context -> CONDITIONING output 0. */
static int encode_to_output(loom_node_ctx *ctx, text_clip *clip, prompt_tokens *t)
{
    loom_tensor *context;
    loom_error err = {0};
    int rc = text_clip_encode(clip, t, report_layer, ctx, &context, &err);
    int64_t length = (int64_t)t->length;
    prompt_tokens_free(t);
    if (rc == LOOM_ERR_INTERRUPTED)
        return rc;
    if (rc)
        return loom_node_fail_err(ctx, &err);
    loom_value *v = loom_conditioning_value(context, length);
    if (!v)
        return loom_node_fail_code(ctx, LOOM_ERR_NOMEM, "out of memory");
    return loom_out(ctx, 0, v);
}

static int clip_text_encode(loom_node_ctx *ctx)
{
    text_clip *clip = loom_in_object(ctx, "clip", TEXT_CLIP_TYPE);
    if (!clip)
        return loom_node_fail(ctx, "input 'clip' is not a CLIP from CLIPLoader");
    prompt_tokens t;
    loom_error err = {0};
    if (prompt_tokenize(clip->tokenizer, loom_in_str(ctx, "text"), TEXT_CLIP_MIN_TOKENS, &t, &err))
        return loom_node_fail_err(ctx, &err);
    return encode_to_output(ctx, clip, &t);
}

static int wan_official_encode(loom_node_ctx *ctx)
{
    text_clip *clip = loom_in_object(ctx, "clip", TEXT_CLIP_TYPE);
    if (!clip)
        return loom_node_fail(ctx, "input 'clip' is not a CLIP from CLIPLoader");
    loom_error err = {0};
    char *clean = wan_clean_prompt(loom_in_str(ctx, "text"), &err);
    prompt_tokens t;
    int rc = clean ? prompt_tokenize_plain(clip->tokenizer, clean, WAN_OFFICIAL_TOKENS, &t, &err) : (int)err.code;
    free(clean);
    if (rc)
        return loom_node_fail_err(ctx, &err);
    return encode_to_output(ctx, clip, &t);
}

static const char *const clip_types[] = {"wan", NULL};
static const char *const clip_devices[] = {"default", "cpu", NULL};

static const loom_input clip_loader_in[] = {
    {.name = "clip_name", .type = LOOM_T_COMBO, .model_folder = TEXT_ENCODER_FOLDERS},
    {.name = "type", .type = LOOM_T_COMBO, .choices = clip_types, .def_str = "wan"},
    {.name = "device", .type = LOOM_T_COMBO, .choices = clip_devices, .def_str = "default",
     .flags = LOOM_IN_OPTIONAL | LOOM_IN_ADVANCED}};
static const loom_output clip_out[] = {{.type = TEXT_CLIP_TYPE}};

static const loom_input encode_in[] = {
    {.name = "text", .type = LOOM_T_STRING, .flags = LOOM_IN_MULTILINE | LOOM_IN_DYNAMIC_PROMPTS,
     .tooltip = "The text to be encoded."},
    {.name = "clip", .type = TEXT_CLIP_TYPE, .tooltip = "The CLIP model used for encoding the text."}};
static const loom_output cond_out[] = {
    {.type = "CONDITIONING",
     .tooltip = "A conditioning containing the embedded text used to guide the diffusion model."}};

static const loom_node_type text_nodes[] = {
    {.name = "CLIPLoader", .display_name = "Load CLIP", .category = "advanced/loaders",
     .inputs = clip_loader_in, .n_inputs = LOOM_COUNT(clip_loader_in), .outputs = clip_out,
     .n_outputs = 1, .execute = clip_loader, .fingerprint = clip_fingerprint},
    {.name = "CLIPTextEncode", .display_name = "CLIP Text Encode (Prompt)", .category = "conditioning",
     .description = "Encodes a text prompt using a CLIP model into an embedding that can be "
                    "used to guide the diffusion model towards generating specific images.",
     .inputs = encode_in, .n_inputs = LOOM_COUNT(encode_in), .outputs = cond_out, .n_outputs = 1,
     .execute = clip_text_encode},
    {.name = "TextEncodeWanOfficial", .display_name = "Text Encode (Wan official pipeline)",
     .category = "conditioning",
     .description = "Encodes a prompt as Wan's generate.py and diffusers' WanPipeline do: ftfy-style "
                    "cleaning, HTML unescaping, whitespace collapsing, no weighting syntax, truncated "
                    "to 511 tokens + EOS and padded to 512.",
     .inputs = encode_in, .n_inputs = LOOM_COUNT(encode_in), .outputs = cond_out, .n_outputs = 1,
     .execute = wan_official_encode},
};

static int register_text(loom_registrar *reg, loom_error *err)
{
    for (size_t i = 0; i < LOOM_COUNT(text_nodes); i++) {
        int rc = loom_register_node(reg, &text_nodes[i], err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

LOOM_PLUGIN_DEFINE("loom.text", "0.1.0", register_text);
