/* tok_internal.h: the pieces the two tokenizer front ends (tok_hf_*.c, tok_spm.c) share:
 * the vocabulary with its Viterbi segmenter (tok_vocab.c), the SentencePiece charsmap
 * (tok_charsmap.c), UTF-8 and whitespace helpers and a byte buffer (tok_text.c).
 *
 * A tok_model is one vocabulary plus the text pipeline of the file it came from; the
 * front end decides the pipeline, the vocabulary only segments normalised text.
 */
#ifndef LOOM_TEXT_TOK_INTERNAL_H
#define LOOM_TEXT_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* ---- byte buffer ---------------------------------------------------------------- */

typedef struct tok_buf {
    char  *data;
    size_t len, cap;
} tok_buf;

int  tok_buf_put(tok_buf *b, const void *data, size_t len);   /* 0 ok, -1 out of memory */
void tok_buf_free(tok_buf *b);

/* ---- UTF-8 ---------------------------------------------------------------------- */

/* Decode the code point at s[0..n); sets *len to the bytes used (1 for an invalid byte,
 * which decodes as U+FFFD). n must be > 0. */
uint32_t tok_utf8_decode(const char *s, size_t n, size_t *len);
/* Encode cp into out (4 bytes room); returns the length. */
size_t   tok_utf8_encode(uint32_t cp, char *out);
/* Copy text with every invalid sequence replaced by U+FFFD (as Python's errors="replace"
 * would hand the reference implementations a valid string). */
int      tok_utf8_sanitize(const char *s, size_t n, tok_buf *out);
/* Whitespace: Unicode White_Space (Rust's char::is_whitespace, what HF tokenizers uses), or
 * with python set Python's str.isspace, which adds U+001C..U+001F. */
int      tok_is_space(uint32_t cp, int python);
/* Bytes of the whitespace character starting at s / ending at s + n; 0 when there is none. */
size_t   tok_space_at(const char *s, size_t n, int python);
size_t   tok_space_before(const char *s, size_t n, int python);
/* Length of the approximate extended grapheme cluster starting at s[0..n) (base character
 * plus combining marks, variation selectors, emoji modifiers and ZWJ sequences). */
size_t   tok_grapheme_len(const char *s, size_t n);

/* ---- SentencePiece precompiled charsmap (spec wan.md Appendix A.1) --------------- */

typedef struct tok_charsmap {
    uint8_t       *blob;        /* owned copy of the whole charsmap */
    const uint32_t *units;      /* the Darts double array, n_units long (copied aligned) */
    uint32_t       *unit_store;
    size_t          n_units;
    const char     *pool;       /* NUL-terminated replacement strings */
    size_t          pool_len;
} tok_charsmap;

/* Parse and validate a charsmap blob (copied). An empty blob gives an empty map. */
int  tok_charsmap_init(tok_charsmap *cm, const uint8_t *blob, size_t len, const char *label,
                       loom_error *err);
void tok_charsmap_free(tok_charsmap *cm);
/* HF `Precompiled` normaliser: graphemes, first (shortest) match, per-char fallback. */
int  tok_charsmap_normalize_hf(const tok_charsmap *cm, const char *s, size_t n, tok_buf *out);
/* Native sentencepiece NormalizePrefix: the longest rule matching at s (at most 32
 * candidates, as sentencepiece); returns the bytes consumed and sets *rep / *rep_len to the
 * replacement (the input itself when no rule matches). */
size_t tok_charsmap_prefix(const tok_charsmap *cm, const char *s, size_t n, const char **rep,
                           size_t *rep_len);

/* ---- vocabulary and Viterbi ------------------------------------------------------ */

enum tok_piece_kind {              /* sentencepiece's piece types */
    TOK_PIECE_NORMAL = 1,
    TOK_PIECE_UNKNOWN = 2,
    TOK_PIECE_CONTROL = 3,
    TOK_PIECE_USER = 4,
    TOK_PIECE_UNUSED = 5,
    TOK_PIECE_BYTE = 6
};

typedef struct tok_piece {
    uint32_t off, len;             /* bytes in the vocabulary pool */
    double   score;
    uint8_t  kind;
} tok_piece;

typedef enum tok_flavour {
    TOK_FLAVOUR_HF,                /* every piece matchable; f64 lattice; unknown runs fused */
    TOK_FLAVOUR_SPM                /* NORMAL/USER pieces only; f32 lattice; no fusing */
} tok_flavour;

typedef struct tok_vocab {
    tok_flavour flavour;
    tok_buf     pool;
    tok_piece  *pieces;
    int32_t     n;
    int32_t    *slots;             /* open-addressing hash: piece id + 1, 0 = empty */
    size_t      n_slots;           /* power of two */
    size_t      max_match_bytes;   /* longest matchable piece */
    double      min_score, max_score;
    int32_t     unk_id;            /* -1: none */
    bool        byte_fallback;
    int32_t     byte_ids[256];     /* `<0xXX>` pieces, -1 when absent */
} tok_vocab;

/* Add a piece (ids are assigned in order). 0 ok, else fills err. */
int  tok_vocab_add(tok_vocab *v, const char *piece, size_t len, double score, int kind,
                   const char *label, loom_error *err);
/* Build the hash, scores and byte table once every piece is in. */
int  tok_vocab_finish(tok_vocab *v, const char *label, loom_error *err);
void tok_vocab_free(tok_vocab *v);
int32_t tok_vocab_find(const tok_vocab *v, const char *piece, size_t len);  /* -1 if absent */
/* Segment normalised text (valid UTF-8) and append ids, applying the flavour's unknown
 * handling and byte fallback. */
int  tok_vocab_segment(const tok_vocab *v, const char *s, size_t n, tok_ids *out, loom_error *err);

/* ---- the model ------------------------------------------------------------------- */

typedef struct tok_hf_pipeline tok_hf_pipeline;   /* tok_hf.h */
typedef struct tok_spm_pipeline tok_spm_pipeline; /* tok_spm.c */

struct tok_model {
    tok_vocab         vocab;
    int32_t           eos_id, pad_id;
    int32_t           n_ids;       /* 1 + the largest id it can emit (added tokens included) */
    tok_hf_pipeline  *hf;          /* exactly one of hf / spm is set */
    tok_spm_pipeline *spm;
};

int  tok_hf_encode(const tok_model *m, const char *s, size_t n, tok_ids *out, loom_error *err);
void tok_hf_free(tok_hf_pipeline *p);
int  tok_spm_encode(const tok_model *m, const char *s, size_t n, tok_ids *out, loom_error *err);
void tok_spm_free(tok_spm_pipeline *p);

#endif
