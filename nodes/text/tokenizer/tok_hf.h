/* tok_hf.h: the HF tokenizer.json pipeline as data, shared by its loader (tok_hf_load.c,
 * JSON -> these structs) and its runner (tok_hf_encode.c, text -> ids). See tok_hf_load.c
 * for which components are supported. */
#ifndef LOOM_TEXT_TOK_HF_H
#define LOOM_TEXT_TOK_HF_H

#include "tok_internal.h"
#include "unicode_norm.h"

/* Most normaliser or pre-tokeniser steps in one file (real files have 1-3). */
#define HF_MAX_STEPS 16

typedef struct hf_added {
    char   *content;
    size_t  len;
    int32_t id;
    int     lstrip, rstrip;
} hf_added;

typedef enum hf_norm_kind { NORM_PRECOMPILED, NORM_REPLACE, NORM_STRIP, NORM_PREPEND, NORM_UNICODE } hf_norm_kind;

typedef struct hf_norm {
    hf_norm_kind kind;
    tok_charsmap charsmap;          /* PRECOMPILED */
    char  *pattern, *content;       /* REPLACE: pattern repeated >= min_repeat times (0: literal) */
    size_t pattern_len, content_len;
    int    min_repeat;
    int    left, right;             /* STRIP */
    uni_form form;                  /* UNICODE: NFC, NFD, NFKC or NFKD */
} hf_norm;

typedef enum hf_prepend { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } hf_prepend;

typedef struct hf_pretok {
    int        metaspace;           /* 0: WhitespaceSplit */
    char      *replacement;
    size_t     replacement_len;
    hf_prepend prepend;
    int        split;
} hf_pretok;

struct tok_hf_pipeline {
    hf_added *added;
    size_t    n_added;
    hf_norm   norms[HF_MAX_STEPS];
    size_t    n_norms;
    hf_pretok pretoks[HF_MAX_STEPS];
    size_t    n_pretoks;
};

#endif
