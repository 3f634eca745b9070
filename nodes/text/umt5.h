/* umt5.h: the umT5 text encoder (spec wan.md §1.3): load from the files users have, run the
 * encoder over one prompt's ids.
 *
 * Sizes come from tensor shapes (width, heads from the relative-bias table [buckets,
 * heads], head width, ffn, layers, vocabulary), never from a hard-coded XXL config. Files:
 * one safetensors file in ComfyUI / HF UMT5EncoderModel naming (optionally under a prefix)
 * or Wan's original naming, a diffusers `text_encoder/` folder (single file or sharded with
 * model.safetensors.index.json), in f32, f16, bf16, or ComfyUI's scaled fp8 (per-tensor
 * `scale_weight`, or `weight_scale` + `comfy_quant`). Weights stay memory-mapped; each
 * linear layer is packed once for the matrix backend (bf16 on AMX: 9.3 GB for XXL, whose
 * 2.1 GB embedding stays mapped), with an fp8 scale folded in while packing. A pickle
 * (.pth/.pt/.bin) is refused with the conversion to run.
 *
 * Numerics: f32 activations; matrix products and attention in f32 when the weights are f32
 * (parity with transformers), else the backend's fast precision (bf16 on AMX, f32
 * accumulation), since ComfyUI's CPU path computes in f32 from whatever the file stores.
 */
#ifndef LOOM_TEXT_UMT5_H
#define LOOM_TEXT_UMT5_H

#include <stddef.h>
#include <stdint.h>

#include "loom/error.h"
#include "loom/tensor.h"

/* Most encoder layers accepted (XXL has 24). */
#define UMT5_MAX_LAYERS 256
/* Longest token sequence one forward accepts (ComfyUI does not truncate; ~16x the
 * 512-token default keeps the per-layer rel-bias and activations to a few hundred MiB). */
#define UMT5_MAX_TOKENS 8192
/* relative_attention_max_distance is not stored in the weights; umT5 and T5 use 128. */
#define UMT5_REL_MAX_DISTANCE 128

typedef struct umt5_config {
    int64_t d_model, n_heads, head_dim, d_ff, n_layers, vocab, n_buckets;
    float   eps;
} umt5_config;

typedef struct umt5_encoder umt5_encoder;

/* Load from a .safetensors file, a *.index.json, or a folder holding either. */
int   umt5_load(const char *path, umt5_encoder **out, loom_error *err);
void  umt5_free(umt5_encoder *e);
const umt5_config *umt5_config_of(const umt5_encoder *e);
/* The `spiece_model` uint8 tensor of a ComfyUI checkpoint (borrowed), or NULL. */
const loom_tensor *umt5_spiece_model(const umt5_encoder *e);
/* Bytes held besides the mapping (packed weights), for the cache budget. */
size_t umt5_bytes(const umt5_encoder *e);
/* "f32", "f16", "bf16", "fp8_e4m3fn scaled" ...: what the linear weights are stored as. */
const char *umt5_weight_format(const umt5_encoder *e);

/* Called after each layer; a non-zero return stops the forward with that status. */
typedef int (*umt5_progress_fn)(void *user, int64_t layer, int64_t n_layers);

/* last_hidden_state [n, d_model] of ids[0..n) with keys >= length masked out (length is
 * the real tokens, EOS included). Rows >= length are computed, as the reference does; the
 * caller decides whether to zero them. */
int   umt5_forward(umt5_encoder *e, const int32_t *ids, int64_t n, int64_t length, float *out,
                   umt5_progress_fn progress, void *user, loom_error *err);

#endif
