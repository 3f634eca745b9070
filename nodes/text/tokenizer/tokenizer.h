/* tokenizer.h: text -> token ids for SentencePiece Unigram models, from the two files
 * users have: a HF `tokenizer.json` and a SentencePiece `.model` protobuf (which ComfyUI's
 * text-encoder checkpoints carry as the uint8 tensor `spiece_model`).
 *
 * Each loader reproduces ITS reference implementation, because the two legitimately
 * differ: tokenizer.json follows HF `tokenizers` (added tokens such as `</s>` are matched
 * in the raw text before normalisation; normalizer -> Metaspace pre-tokenizer -> Viterbi
 * per word with f64 scores; unknown runs fused into one `<unk>`; byte fallback only when
 * the file says so), the `.model` follows native sentencepiece (longest-match charsmap
 * normalisation, whitespace folding, one Viterbi over the whole string with f32 scores,
 * byte fallback per the trainer spec, control pieces never matched in text).
 *
 * Both files are untrusted input: every length and offset is checked, limits are named
 * below, and every failure fills a loom_error naming the file (its label) and the problem.
 * A loaded tokenizer is immutable; tok_encode may be called from several threads.
 */
#ifndef LOOM_TEXT_TOKENIZER_H
#define LOOM_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "loom/error.h"

/* Largest tokenizer file accepted (umt5-xxl's tokenizer.json is 16 MiB, spiece.model 4 MiB). */
#define TOK_MAX_FILE_BYTES   (512u << 20)
/* Most pieces in a vocabulary (umT5 has 256 300; Gemma-class vocabularies 262 144). */
#define TOK_MAX_VOCAB        (1 << 22)
/* Longest piece that can match text, in bytes (sentencepiece's default max piece length is
 * 16 characters, at most 64 bytes); longer pieces are kept for ids but never matched. */
#define TOK_MAX_PIECE_BYTES  256
/* Longest text one call encodes, in bytes (a prompt of ~1 million tokens). */
#define TOK_MAX_TEXT_BYTES   (4u << 20)
/* Deepest JSON nesting accepted in tokenizer.json (real files nest 4 levels). */
#define TOK_MAX_JSON_DEPTH   32

typedef struct tok_model tok_model;

/* A growable list of token ids. */
typedef struct tok_ids {
    int32_t *ids;
    size_t   n, cap;
} tok_ids;

int   tok_ids_push(tok_ids *v, int32_t id);
void  tok_ids_free(tok_ids *v);

/* Load a HF tokenizer.json (Unigram model) from memory; label names it in errors. */
int   tok_load_hf_json(const char *json, size_t len, const char *label, tok_model **out,
                       loom_error *err);
/* Load a SentencePiece ModelProto (spiece.model bytes) from memory. */
int   tok_load_spm(const void *data, size_t len, const char *label, tok_model **out,
                   loom_error *err);
/* Load either from a file: *.json is tokenizer.json, anything else a SentencePiece model. */
int   tok_load_file(const char *path, tok_model **out, loom_error *err);
void  tok_free(tok_model *m);

/* Append the ids of text (len bytes of UTF-8; invalid sequences read as U+FFFD) to out.
 * No EOS is added: callers that want one append tok_eos_id(). */
int   tok_encode(const tok_model *m, const char *text, size_t len, tok_ids *out, loom_error *err);

int32_t tok_eos_id(const tok_model *m);     /* `</s>`, 1 for umT5 */
int32_t tok_pad_id(const tok_model *m);     /* `<pad>`, 0 for umT5 */
size_t  tok_vocab_size(const tok_model *m);  /* 1 + the largest id encoding can produce */

#endif
