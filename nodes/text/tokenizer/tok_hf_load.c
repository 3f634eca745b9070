/* tok_hf_load.c: reading a HF `tokenizer.json` with a Unigram model into a pipeline (tok_hf.h).
 *
 * The pipeline is kept as data: added tokens (matched in the raw text first,
 * leftmost-longest, honouring lstrip/rstrip), a list of normaliser steps (Precompiled
 * charsmap, Replace, Strip, Prepend, NFC/NFD/NFKC/NFKD), a list of pre-tokeniser steps
 * (WhitespaceSplit, Metaspace in its old `add_prefix_space` and new `prepend_scheme` forms),
 * and the Unigram vocabulary. The EOS id comes from the post-processor template
 * (`$A </s>`). Other components (Lowercase, BertNormalizer, ...) and regexes beyond literal
 * text and single-character repetition (" {2,}", "x+") are refused with an error naming
 * them. The file is parsed with json-c under a nesting limit.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "tok_hf.h"

static int invalid(const char *label, const char *what, loom_error *err)
{
    return loom_errorf(err, LOOM_ERR_INVALID, "%s: not a usable tokenizer.json (%s)", label, what);
}

static const char *get_str(json_object *o, const char *key, size_t *len)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    if (len)
        *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

static int get_bool(json_object *o, const char *key, int def)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
        return def;
    return json_object_get_boolean(v);
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode base64 (padding optional); returns a malloc'd buffer or NULL when malformed. */
static uint8_t *b64_decode(const char *s, size_t n, size_t *out_len)
{
    uint8_t *out = malloc(n / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            break;
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return out;
}

/* A Replace pattern: {"String": s} literally, or {"Regex": r} where r is literal text or one
 * character followed by {n,} or +. */
static int load_replace(hf_norm *nm, json_object *o, const char *label, loom_error *err)
{
    json_object *pat;
    size_t clen, plen;
    const char *content = get_str(o, "content", &clen), *p;
    if (!content || !json_object_object_get_ex(o, "pattern", &pat))
        return invalid(label, "Replace normalizer without pattern or content", err);
    if ((p = get_str(pat, "String", &plen))) {
        nm->min_repeat = 0;
    } else if ((p = get_str(pat, "Regex", &plen))) {
        size_t clen1;
        tok_utf8_decode(p, plen ? plen : 1, &clen1);
        const char *meta = "\\^$.|?*+()[]{}";
        int literal = 1;
        for (size_t i = 0; i < plen; i++)
            if (strchr(meta, p[i]))
                literal = 0;
        if (plen && literal) {
            nm->min_repeat = 0;
        } else if (plen > clen1 && !strchr(meta, p[0]) && !strcmp(p + clen1, "+")) {
            nm->min_repeat = 1, plen = clen1;
        } else if (plen > clen1 + 3 && !strchr(meta, p[0]) && p[clen1] == '{' && p[plen - 2] == ',' &&
                   p[plen - 1] == '}') {
            int n = 0;
            for (size_t i = clen1 + 1; i < plen - 2 && n <= 1000; i++) {
                if (p[i] < '0' || p[i] > '9')
                    return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "%s: Replace regex '%s' is not supported "
                                       "(only literal text, 'x+' and 'x{n,}')", label, p);
                n = n * 10 + (p[i] - '0');
            }
            nm->min_repeat = n < 1 ? 1 : n, plen = clen1;
        } else {
            return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "%s: Replace regex '%s' is not supported (only "
                               "literal text, 'x+' and 'x{n,}')", label, p);
        }
    } else {
        return invalid(label, "Replace pattern is neither String nor Regex", err);
    }
    if (!plen)
        return invalid(label, "Replace with an empty pattern", err);
    nm->pattern = dup_bytes(p, plen);
    nm->content = dup_bytes(content, clen);
    nm->pattern_len = plen;
    nm->content_len = clen;
    if (!nm->pattern || !nm->content)
        return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory", label);
    return LOOM_OK;
}

static int load_normalizer(tok_hf_pipeline *pl, json_object *o, const char *label, loom_error *err)
{
    if (!o || json_object_is_type(o, json_type_null))
        return LOOM_OK;
    const char *type = get_str(o, "type", NULL);
    if (!type)
        return invalid(label, "normalizer without a type", err);
    if (!strcmp(type, "Sequence")) {
        json_object *list;
        if (!json_object_object_get_ex(o, "normalizers", &list) || !json_object_is_type(list, json_type_array))
            return invalid(label, "Sequence normalizer without a list", err);
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            int rc = load_normalizer(pl, json_object_array_get_idx(list, i), label, err);
            if (rc)
                return rc;
        }
        return LOOM_OK;
    }
    if (pl->n_norms == HF_MAX_STEPS)
        return invalid(label, "more than 16 normalizer steps", err);
    hf_norm *nm = &pl->norms[pl->n_norms];
    memset(nm, 0, sizeof *nm);
    if (!strcmp(type, "Precompiled")) {
        size_t len, blob_len = 0;
        const char *b64 = get_str(o, "precompiled_charsmap", &len);
        if (!b64) {
            pl->n_norms++;   /* null charsmap: identity */
            nm->kind = NORM_PRECOMPILED;
            return LOOM_OK;
        }
        uint8_t *blob = b64_decode(b64, len, &blob_len);
        if (!blob)
            return invalid(label, "precompiled_charsmap is not base64", err);
        nm->kind = NORM_PRECOMPILED;
        int rc = tok_charsmap_init(&nm->charsmap, blob, blob_len, label, err);
        free(blob);
        if (rc == LOOM_OK)
            pl->n_norms++;
        return rc;
    }
    if (!strcmp(type, "Replace")) {
        nm->kind = NORM_REPLACE;
        pl->n_norms++;       /* counted first so a half-loaded step is freed */
        return load_replace(nm, o, label, err);
    }
    if (!strcmp(type, "Strip")) {
        nm->kind = NORM_STRIP;
        nm->left = get_bool(o, "strip_left", 1);
        nm->right = get_bool(o, "strip_right", 1);
        pl->n_norms++;
        return LOOM_OK;
    }
    if (!strcmp(type, "Prepend")) {
        size_t len;
        const char *s = get_str(o, "prepend", &len);
        if (!s)
            return invalid(label, "Prepend normalizer without text", err);
        nm->kind = NORM_PREPEND;
        pl->n_norms++;
        nm->content = dup_bytes(s, len);
        nm->content_len = len;
        return nm->content ? LOOM_OK : loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory", label);
    }
    static const char *const forms[] = {"NFC", "NFD", "NFKC", "NFKD"};
    for (int f = 0; f < 4; f++) {
        if (!strcmp(type, forms[f])) {
            nm->kind = NORM_UNICODE;
            nm->form = (uni_form)f;
            pl->n_norms++;
            return LOOM_OK;
        }
    }
    return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "%s: normalizer '%s' is not supported (loom handles "
                       "Precompiled, Replace, Strip, Prepend, NFC, NFD, NFKC, NFKD and Sequence)", label, type);
}

static int load_pretokenizer(tok_hf_pipeline *pl, json_object *o, const char *label, loom_error *err)
{
    if (!o || json_object_is_type(o, json_type_null))
        return LOOM_OK;
    const char *type = get_str(o, "type", NULL);
    if (!type)
        return invalid(label, "pre_tokenizer without a type", err);
    if (!strcmp(type, "Sequence")) {
        json_object *list;
        if (!json_object_object_get_ex(o, "pretokenizers", &list) || !json_object_is_type(list, json_type_array))
            return invalid(label, "Sequence pre_tokenizer without a list", err);
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            int rc = load_pretokenizer(pl, json_object_array_get_idx(list, i), label, err);
            if (rc)
                return rc;
        }
        return LOOM_OK;
    }
    if (pl->n_pretoks == HF_MAX_STEPS)
        return invalid(label, "more than 16 pre_tokenizer steps", err);
    hf_pretok *pt = &pl->pretoks[pl->n_pretoks];
    memset(pt, 0, sizeof *pt);
    if (!strcmp(type, "WhitespaceSplit")) {
        pl->n_pretoks++;
        return LOOM_OK;
    }
    if (strcmp(type, "Metaspace"))
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "%s: pre_tokenizer '%s' is not supported (loom "
                           "handles Metaspace, WhitespaceSplit and Sequence)", label, type);
    size_t len;
    const char *rep = get_str(o, "replacement", &len);
    if (!rep || !len)
        return invalid(label, "Metaspace without a replacement character", err);
    pt->metaspace = 1;
    pt->replacement = dup_bytes(rep, len);
    pt->replacement_len = len;
    pl->n_pretoks++;
    if (!pt->replacement)
        return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory", label);
    const char *scheme = get_str(o, "prepend_scheme", NULL);
    if (scheme)   /* new form */
        pt->prepend = !strcmp(scheme, "first") ? PREPEND_FIRST : !strcmp(scheme, "never") ? PREPEND_NEVER
                                                                                          : PREPEND_ALWAYS;
    else          /* old form */
        pt->prepend = get_bool(o, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
    pt->split = get_bool(o, "split", 1);
    return LOOM_OK;
}

static int load_added(tok_hf_pipeline *pl, json_object *list, const char *label, loom_error *err)
{
    if (!list || !json_object_is_type(list, json_type_array))
        return LOOM_OK;
    size_t n = json_object_array_length(list);
    if (n > TOK_MAX_VOCAB)
        return invalid(label, "too many added tokens", err);
    pl->added = calloc(n ? n : 1, sizeof *pl->added);
    if (!pl->added)
        return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory", label);
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(list, i), *idv;
        size_t len;
        const char *content = get_str(t, "content", &len);
        if (!content || !len || !json_object_object_get_ex(t, "id", &idv) ||
            !json_object_is_type(idv, json_type_int))
            return invalid(label, "an added token without content or id", err);
        int64_t id = json_object_get_int64(idv);
        if (id < 0 || id >= TOK_MAX_VOCAB)
            return invalid(label, "an added token id out of range", err);
        hf_added *a = &pl->added[pl->n_added];
        a->content = dup_bytes(content, len);
        if (!a->content)
            return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory", label);
        a->len = len;
        a->id = (int32_t)id;
        a->lstrip = get_bool(t, "lstrip", 0);
        a->rstrip = get_bool(t, "rstrip", 0);
        pl->n_added++;
    }
    return LOOM_OK;
}

static int load_vocab(tok_model *m, json_object *model, const char *label, loom_error *err)
{
    const char *type = get_str(model, "type", NULL);
    if (!type)
        return invalid(label, "no model type", err);
    if (strcmp(type, "Unigram"))
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "%s: tokenizer model '%s' is not supported; loom "
                           "reads Unigram models (umT5, T5)", label, type);
    json_object *vocab, *unk;
    if (!json_object_object_get_ex(model, "vocab", &vocab) || !json_object_is_type(vocab, json_type_array))
        return invalid(label, "Unigram model without a vocab list", err);
    size_t n = json_object_array_length(vocab);
    if (!n)
        return invalid(label, "empty vocab", err);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(vocab, i);
        json_object *p = json_object_array_get_idx(e, 0), *s = json_object_array_get_idx(e, 1);
        if (!json_object_is_type(e, json_type_array) || !json_object_is_type(p, json_type_string) ||
            !(json_object_is_type(s, json_type_double) || json_object_is_type(s, json_type_int)))
            return loom_errorf(err, LOOM_ERR_INVALID, "%s: vocab entry %zu is not [piece, score]", label, i);
        int rc = tok_vocab_add(&m->vocab, json_object_get_string(p), (size_t)json_object_get_string_len(p),
                               json_object_get_double(s), TOK_PIECE_NORMAL, label, err);
        if (rc)
            return rc;
    }
    m->vocab.unk_id = -1;
    if (json_object_object_get_ex(model, "unk_id", &unk) && json_object_is_type(unk, json_type_int)) {
        int64_t id = json_object_get_int64(unk);
        if (id < 0 || (size_t)id >= n)
            return invalid(label, "unk_id outside the vocab", err);
        m->vocab.unk_id = (int32_t)id;
    }
    m->vocab.byte_fallback = get_bool(model, "byte_fallback", 0);
    return tok_vocab_finish(&m->vocab, label, err);
}

/* The EOS of the post-processor template ({"SpecialToken": {"id": "</s>"}} in "single"). */
static int32_t template_eos(const tok_model *m, json_object *post)
{
    json_object *single, *specials, *tok, *ids;
    if (!post || !json_object_object_get_ex(post, "single", &single) ||
        !json_object_is_type(single, json_type_array))
        return -1;
    for (size_t i = 0; i < json_object_array_length(single); i++) {
        json_object *st;
        if (!json_object_object_get_ex(json_object_array_get_idx(single, i), "SpecialToken", &st))
            continue;
        size_t len;
        const char *name = get_str(st, "id", &len);
        if (!name)
            continue;
        if (json_object_object_get_ex(post, "special_tokens", &specials) &&
            json_object_object_get_ex(specials, name, &tok) && json_object_object_get_ex(tok, "ids", &ids) &&
            json_object_is_type(json_object_array_get_idx(ids, 0), json_type_int)) {
            int64_t id = json_object_get_int64(json_object_array_get_idx(ids, 0));
            if (id >= 0 && id < TOK_MAX_VOCAB)
                return (int32_t)id;
        }
        return tok_vocab_find(&m->vocab, name, len);
    }
    return -1;
}

int tok_load_hf_json(const char *json, size_t len, const char *label, tok_model **out, loom_error *err)
{
    *out = NULL;
    if (len > TOK_MAX_FILE_BYTES)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: %zu bytes is more than the %u-byte limit for a "
                           "tokenizer", label, len, TOK_MAX_FILE_BYTES);
    json_tokener *tk = json_tokener_new_ex(TOK_MAX_JSON_DEPTH);
    if (!tk)
        return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory", label);
    json_object *root = json_tokener_parse_ex(tk, json, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tk);
    json_tokener_free(tk);
    if (!root || jerr != json_tokener_success) {
        json_object_put(root);
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: not valid JSON (%s)", label,
                           jerr == json_tokener_success ? "incomplete document" : json_tokener_error_desc(jerr));
    }
    tok_model *m = calloc(1, sizeof *m);
    tok_hf_pipeline *pl = calloc(1, sizeof *pl);
    int rc = LOOM_OK;
    if (!m || !pl) {
        free(m);
        free(pl);
        json_object_put(root);
        return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory", label);
    }
    m->hf = pl;
    m->vocab.flavour = TOK_FLAVOUR_HF;
    json_object *model = NULL, *v;
    if (!json_object_is_type(root, json_type_object) || !json_object_object_get_ex(root, "model", &model) ||
        !json_object_is_type(model, json_type_object))
        rc = invalid(label, "no \"model\" object", err);
    if (rc == LOOM_OK)
        rc = load_vocab(m, model, label, err);
    if (rc == LOOM_OK)
        rc = load_added(pl, json_object_object_get_ex(root, "added_tokens", &v) ? v : NULL, label, err);
    if (rc == LOOM_OK)
        rc = load_normalizer(pl, json_object_object_get_ex(root, "normalizer", &v) ? v : NULL, label, err);
    if (rc == LOOM_OK)
        rc = load_pretokenizer(pl, json_object_object_get_ex(root, "pre_tokenizer", &v) ? v : NULL, label, err);
    if (rc == LOOM_OK) {
        m->eos_id = template_eos(m, json_object_object_get_ex(root, "post_processor", &v) ? v : NULL);
        if (m->eos_id < 0)
            m->eos_id = tok_vocab_find(&m->vocab, "</s>", 4);
        int32_t pad = tok_vocab_find(&m->vocab, "<pad>", 5);
        m->pad_id = pad >= 0 ? pad : 0;
        m->n_ids = m->vocab.n;
        for (size_t i = 0; i < pl->n_added; i++)
            if (pl->added[i].id >= m->n_ids)
                m->n_ids = pl->added[i].id + 1;
    }
    json_object_put(root);
    if (rc != LOOM_OK) {
        tok_free(m);
        return rc;
    }
    *out = m;
    return LOOM_OK;
}

void tok_hf_free(tok_hf_pipeline *pl)
{
    if (!pl)
        return;
    for (size_t i = 0; i < pl->n_added; i++)
        free(pl->added[i].content);
    free(pl->added);
    for (size_t i = 0; i < pl->n_norms; i++) {
        tok_charsmap_free(&pl->norms[i].charsmap);
        free(pl->norms[i].pattern);
        free(pl->norms[i].content);
    }
    for (size_t i = 0; i < pl->n_pretoks; i++)
        free(pl->pretoks[i].replacement);
    free(pl);
}
