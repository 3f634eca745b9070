/* wan_dit.h: the Wan2.1 DiT inside the loom.wan plugin (spec wan.md section 2).
 *
 * A wan_dit owns prepacked weights: every nn.Linear of the model is a loom_linear
 * (converted once at load: bf16 tiles on AMX or f32 for OpenBLAS), every other parameter
 * (norm gains, modulation tables) a small f32 copy. Nothing else is kept from the file, so
 * the mapping is closed once loading is done. The model is immutable after loading; a
 * forward pass gets its scratch memory from an arena owned by the caller.
 *
 * Activations are token-major [B*L, D] f32: B batch items of L tokens each, stacked, so
 * every matrix product runs once over the whole batch (cond and uncond together), while
 * attention, modulation and RoPE run per item. The residual stream and every norm stay
 * f32; only the matrix products and attention round their inputs to bf16 when the
 * model's precision says so.
 *
 * Files: wan_source.c (files, naming maps), wan_config.c (shapes -> config),
 * wan_weights.c (loading), wan_time.c (time embedding), wan_grid.c (patchify, unpatchify),
 * wan_block.c (one transformer block, cross-attention K/V), wan_forward.c (the whole pass),
 * wan_model.c (the MODEL contract: begin / predict / end, the RoPE table of the run),
 * wan_lora.c (LoRA deltas applied while loading).
 */
#ifndef WAN_DIT_H
#define WAN_DIT_H

#include <stddef.h>
#include <stdint.h>

#include "loom/error.h"
#include "loom/model.h"
#include "loom/ops.h"
#include "loom/safetensors.h"
#include "loom/tensor.h"
#include "loom/value.h"

/* Wan's RoPE tables have 1024 positions per axis (spec 2.3); a longer grid is rejected. */
#define WAN_MAX_GRID_POSITIONS 1024
/* ComfyUI's head-count rule when nothing in the files records it: head_dim 128. */
#define WAN_DEFAULT_HEAD_DIM 128
/* All of Wan's norms use eps 1e-6. */
#define WAN_NORM_EPS 1e-6f

/* ---- files and names (wan_source.c) --------------------------------------------------- */

typedef struct wan_source wan_source;

/* Open a DiT: a single safetensors file (original / ComfyUI naming, with or without the
 * "model.diffusion_model." prefix), or a diffusers transformer folder (the folder itself,
 * its config.json, its sharded index or one of its safetensors files). */
int          wan_source_open(const char *path, wan_source **out, loom_error *err);
void         wan_source_close(wan_source *s);
/* The tensor with this original-naming name (e.g. "blocks.0.self_attn.q.weight"): new
 * reference to a zero-copy view, or NULL. require fills err naming the tensor and file. */
loom_tensor *wan_source_get(wan_source *s, const char *name);
loom_tensor *wan_source_require(wan_source *s, const char *name, loom_error *err);
/* The name as it is spelt in the file (diffusers names for a diffusers folder). */
const char  *wan_source_file_name(const wan_source *s, const char *name, char *buf, size_t cap);
const char  *wan_source_path(const wan_source *s);
/* The head count the files record (diffusers config.json, or safetensors metadata "config"
 * JSON / "num_heads"); 0 when none does. */
int          wan_source_num_heads(const wan_source *s);
/* After loading: LOOM_OK when every tensor of the files was used (or is a known scale
 * companion / marker), else an error naming the first tensor nobody asked for. */
int          wan_source_check_all_used(const wan_source *s, loom_error *err);

/* ---- config (wan_config.c) -------------------------------------------------------------- */

typedef struct wan_config {
    int64_t dim, ffn_dim, freq_dim, text_dim, in_dim, out_dim;
    int     num_layers, num_heads, head_dim;
    int     patch[3];                 /* pt, ph, pw */
} wan_config;

/* The config from tensor shapes (and the head count the files record, else dim / 128). */
int wan_config_detect(wan_source *s, wan_config *c, loom_error *err);

/* ---- weights (wan_weights.c) ------------------------------------------------------------ */

typedef struct wan_block_weights {
    float       *modulation;                      /* [6, D]: shift, scale, gate x2 */
    loom_linear *self_q, *self_k, *self_v, *self_o;
    float       *self_norm_q, *self_norm_k;       /* [D] RMS gains over the full width */
    float       *norm3_weight, *norm3_bias;       /* [D] cross-attention LayerNorm */
    loom_linear *cross_q, *cross_k, *cross_v, *cross_o;
    float       *cross_norm_q, *cross_norm_k;
    loom_linear *ffn_in, *ffn_out;
} wan_block_weights;

/* A change to some linear weights applied while loading (a LoRA): for every layer that
 * has() names (original naming without ".weight", e.g. "blocks.0.self_attn.q"), apply()
 * adds the delta to the dequantised f32 weight w [N, K] before it is packed. */
typedef struct wan_weight_patch {
    int  (*has)(void *user, const char *layer);
    int  (*apply)(void *user, const char *layer, float *w, int64_t N, int64_t K, loom_error *err);
    void *user;
} wan_weight_patch;

typedef struct wan_load_opts {
    loom_precision precision;   /* AUTO: bf16 products where the CPU has them; F32 for parity */
    /* LOOM_F32: use the weights as stored. LOOM_F8_E4M3 / LOOM_F8_E5M2: round every linear
     * weight through that type first, as ComfyUI's UNETLoader weight_dtype does. */
    loom_dtype     weight_round;
    const wan_weight_patch *patch;   /* NULL: none */
} wan_load_opts;

typedef struct wan_dit {
    wan_config         cfg;
    loom_precision     precision;
    loom_linear       *patch_embed;               /* [D, in_dim*pt*ph*pw], a Conv3d as a linear */
    loom_linear       *text_in, *text_out;        /* GELU-tanh between */
    loom_linear       *time_in, *time_out;        /* SiLU between */
    loom_linear       *time_proj;                 /* [6D, D], SiLU before */
    wan_block_weights *blocks;                    /* [num_layers] */
    float             *head_modulation;           /* [2, D]: shift, scale */
    loom_linear       *head;                      /* [pt*ph*pw*out_dim, D] */
    size_t             bytes;                     /* resident weight bytes (cache budget) */
    char              *path;                      /* where it was loaded from, and how: */
    wan_load_opts      opts;                      /* a LoRA reloads the base this way (patch NULL) */
    struct wan_lora   *lora;                      /* the LoRAs applied at load (a chain; owned) */
} wan_dit;

/* Load from a path (see wan_source_open); opts NULL = defaults. */
int  wan_dit_load(const char *path, const wan_load_opts *opts, wan_dit **out, loom_error *err);
void wan_dit_free(wan_dit *m);

/* ---- time embedding (wan_time.c) -------------------------------------------------------- */

/* e [B, D] (the head's modulation input) and e0 [B, 6D] (the blocks') for timesteps t[B]. */
int wan_time_embed(wan_dit *m, const float *t, int64_t B, float *e, float *e0, loom_arena *a,
                   loom_error *err);

/* ---- token grid (wan_grid.c) ------------------------------------------------------------ */

typedef struct wan_grid {
    int64_t T, H, W;            /* latent extents the caller gave */
    int64_t f, h, w;            /* tokens per axis after circular padding to the patch */
    int64_t tokens;             /* f*h*w */
} wan_grid;

int  wan_grid_init(wan_grid *g, const wan_config *c, int64_t T, int64_t H, int64_t W, loom_error *err);
/* x [C, T, H, W] -> patches [tokens, C*pt*ph*pw] (circular padding past the edges, as
 * ComfyUI's pad_to_patch_size), in the Conv3d weight's (c, kt, kh, kw) order. */
void wan_patchify(const wan_config *c, const wan_grid *g, const float *x, float *patches);
/* O [tokens, pt*ph*pw*out_dim] -> out [out_dim, T, H, W], the padding cropped away. */
void wan_unpatchify(const wan_config *c, const wan_grid *g, const float *o, float *out);

/* ---- one forward (wan_block.c, wan_forward.c) ------------------------------------------- */

/* The cross-attention keys and values of one context, for every layer: computed once per
 * sampling run because the context does not change between steps. */
typedef struct wan_context_kv {
    int64_t rows;               /* context rows (512, or more for long prompts) */
    float  *k, *v;              /* [num_layers, rows, D] each, k RMS-normed */
} wan_context_kv;

int  wan_context_kv_init(wan_dit *m, const loom_tensor *context, wan_context_kv *kv, loom_arena *a,
                         loom_error *err);
void wan_context_kv_free(wan_context_kv *kv);

typedef struct wan_batch {
    int64_t                      B, L;      /* items, tokens per item */
    float                       *x;         /* [B*L, D] residual stream */
    const float                 *e0;        /* [B, 6D] */
    const wan_context_kv *const *kv;        /* [B]: each item's context */
    const loom_rope3d           *rope;      /* the grid's table (L tokens) */
    loom_arena                  *arena;
} wan_batch;

int wan_block_forward(wan_dit *m, int layer, const wan_batch *b, loom_error *err);

/* v [B, out_dim, T, H, W] = DiT(x [B, in_dim, T, H, W], t[B], kv[b]). rope must match the
 * grid of (T, H, W) (see wan_grid_init); the arena is reset to where it was on return. */
int wan_dit_forward(wan_dit *m, const float *x, int64_t B, const wan_grid *g, const float *t,
                    const wan_context_kv *const *kv, const loom_rope3d *rope, loom_arena *a,
                    float *v, loom_error *err);

/* ---- the MODEL value (wan_model.c) ------------------------------------------------------ */

/* A MODEL value owning m, with the Wan2.1 latent format and the given sampling settings
 * (NULL: ComfyUI's WAN21_T2V defaults, shift 8, timestep = sigma * 1000). */
loom_value *wan_model_value(wan_dit *m, const loom_model_sampling *sampling);
/* The Wan DiT behind a MODEL value, or NULL when the MODEL is another family's. */
wan_dit    *wan_model_dit(const loom_model *model);

/* ---- LoRA (wan_lora.c) ------------------------------------------------------------------ */

typedef struct wan_lora wan_lora;

/* Read a LoRA for model m (lora_down/lora_up [+ alpha], lora_A/lora_B, or full .diff
 * deltas; ComfyUI, kohya "lora_unet_" and bare key prefixes). The new LoRA is chained
 * after the ones m was loaded with (m->lora), so applying it applies them all. Keys naming
 * no linear layer of m are counted in *unmatched (the first one's name copied to
 * first_unmatched), as ComfyUI warns and skips them; a LoRA that matches no layer is an
 * error. */
int  wan_lora_open(const char *path, const wan_dit *m, float strength, wan_lora **out, size_t *unmatched,
                   char *first_unmatched, size_t cap, loom_error *err);
void wan_lora_unref(wan_lora *l);   /* NULL ok */
/* The patch that applies l (and the LoRAs before it) while loading. */
wan_weight_patch wan_lora_patch(wan_lora *l);

#endif
