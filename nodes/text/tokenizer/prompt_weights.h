/* prompt_weights.h: ComfyUI's prompt handling for T5-style encoders (comfy/sd1_clip.py:
 * escape_important, token_weights, parse_parentheses, SDTokenizer.tokenize_with_weights as
 * configured by comfy/text_encoders/wan.py), from text to padded ids with a weight each.
 *
 * Rules, each checked against ComfyUI's code:
 *   `\(` and `\)` are literal brackets; `(x)` multiplies the weight by 1.1 and nesting
 *   multiplies again; `(x:w)` sets it to w when what follows the LAST colon parses as a
 *   Python float (else the colon stays text and only the 1.1 applies); an unmatched `(`
 *   stays text; an unmatched `)` makes every later bracket text. Each weighted segment is
 *   tokenized whole (no per-word split); `embedding:name` words are dropped as ComfyUI drops
 *   a missing embedding (loom loads none). One EOS (weight 1) ends the ids, then pads
 *   (weight 1) up to min_length; nothing is truncated.
 */
#ifndef LOOM_TEXT_PROMPT_WEIGHTS_H
#define LOOM_TEXT_PROMPT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "loom/error.h"
#include "tokenizer.h"

/* Deepest bracket nesting accepted (Python's recursion limit makes ComfyUI fail near 1000). */
#define PROMPT_MAX_NESTING 256

typedef struct prompt_segment {
    char  *text;        /* unescaped, NUL-terminated */
    double weight;
} prompt_segment;

typedef struct prompt_tokens {
    int32_t *ids;
    double  *weights;
    size_t   n;          /* padded length (>= min_length) */
    size_t   length;     /* real tokens, EOS included */
} prompt_tokens;

/* Split text into weighted segments as token_weights(escape_important(text), 1.0) does,
 * with the segments unescaped. Free with prompt_segments_free. */
int  prompt_parse_weights(const char *text, prompt_segment **out, size_t *n, loom_error *err);
void prompt_segments_free(prompt_segment *segs, size_t n);

/* The whole tokenize_with_weights: ids + weights, EOS, padding to min_length. */
int  prompt_tokenize(const tok_model *tok, const char *text, size_t min_length, prompt_tokens *out,
                     loom_error *err);
/* Tokens without weighting syntax (Wan's official path): ids of text, truncated to
 * max_length - 1, EOS, padded to max_length (0 = no truncation, no padding). */
int  prompt_tokenize_plain(const tok_model *tok, const char *text, size_t max_length, prompt_tokens *out,
                           loom_error *err);
void prompt_tokens_free(prompt_tokens *t);

#endif
