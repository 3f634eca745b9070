/* text_clip.h: CLIP, the text-encoder object CLIPLoader makes and CLIPTextEncode uses (a
 * type private to this plugin): a umT5 encoder plus the tokenizer that travels with it.
 *
 * The tokenizer is, in order: the checkpoint's own `spiece_model` tensor (ComfyUI files),
 * then spiece.model or tokenizer.json beside the weights or in a sibling tokenizer/ folder
 * (the diffusers layout). Encoding follows ComfyUI's Wan path: attention mask up to and
 * including the EOS, rows after it zeroed, and weights applied as
 * z = (z - z_empty) * w + z_empty with z_empty the encoding of EOS + pads of the same length.
 */
#ifndef LOOM_TEXT_CLIP_H
#define LOOM_TEXT_CLIP_H

#include "loom/error.h"
#include "loom/tensor.h"
#include "prompt_weights.h"
#include "tokenizer.h"
#include "umt5.h"

#define TEXT_CLIP_TYPE "CLIP"
/* ComfyUI pads umT5 prompts to at least this many tokens (UMT5XXlTokenizer min_length). */
#define TEXT_CLIP_MIN_TOKENS 512

typedef struct text_clip {
    umt5_encoder *encoder;
    tok_model    *tokenizer;
    char          tokenizer_source[4096];  /* for logs: where the tokenizer came from */
} text_clip;

int  text_clip_load(const char *path, text_clip **out, loom_error *err);
void text_clip_free(text_clip *c);
/* Encode tokens into a new [1, n, d_model] f32 context (rows >= length zero). */
int  text_clip_encode(text_clip *c, const prompt_tokens *t, umt5_progress_fn progress, void *user,
                      loom_tensor **context, loom_error *err);

#endif
