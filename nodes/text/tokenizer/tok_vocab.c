/* tok_vocab.c: the Unigram vocabulary and its Viterbi segmentation (sentencepiece's
 * EncodeOptimized, spec wan.md §1.2 step 3).
 *
 * Pieces live in one pool and an open-addressing hash; "which pieces start at byte s" is
 * answered by extending an FNV-1a hash one byte at a time up to the longest matchable
 * piece and probing at each character boundary, which is what a trie's common-prefix walk
 * yields, in the same (shortest first) order. The lattice keeps, for every byte offset,
 * the best path ending there; ties keep the first candidate (strict >), and a character no
 * single-character piece covers gets the unknown score min_score - 10. The two flavours
 * differ only where their references differ: HF scores in f64, matches every piece, fuses
 * unknown runs and re-looks-up each result string (byte fallback only for strings not in
 * the vocabulary); sentencepiece scores in f32, matches NORMAL and USER_DEFINED pieces only,
 * expands each unknown into byte pieces when byte fallback is on and otherwise fuses runs.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* sentencepiece's kUnkPenalty: an unknown character costs this much below the worst piece. */
#define TOK_UNK_PENALTY 10.0

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME  1099511628211ull

static uint64_t fnv_step(uint64_t h, unsigned char c) { return (h ^ c) * FNV_PRIME; }

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++)
        h = fnv_step(h, (unsigned char)s[i]);
    return h;
}

int tok_vocab_add(tok_vocab *v, const char *piece, size_t len, double score, int kind,
                  const char *label, loom_error *err)
{
    if (v->n >= TOK_MAX_VOCAB)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: more than %d pieces in the vocabulary",
                           label, TOK_MAX_VOCAB);
    if ((v->n & (v->n - 1)) == 0) {   /* grow at powers of two */
        size_t cap = v->n ? (size_t)v->n * 2 : 256;
        tok_piece *p = realloc(v->pieces, cap * sizeof *p);
        if (!p)
            return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory for the vocabulary", label);
        v->pieces = p;
    }
    if (v->pool.len + len > UINT32_MAX)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: vocabulary strings exceed 4 GiB", label);
    tok_piece *p = &v->pieces[v->n];
    p->off = (uint32_t)v->pool.len;
    p->len = (uint32_t)len;
    p->score = score;
    p->kind = (uint8_t)kind;
    if (tok_buf_put(&v->pool, piece, len))
        return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory for the vocabulary", label);
    v->n++;
    return LOOM_OK;
}

static int matchable(const tok_vocab *v, const tok_piece *p)
{
    if (p->len == 0 || p->len > TOK_MAX_PIECE_BYTES)
        return 0;
    if (v->flavour == TOK_FLAVOUR_HF)
        return 1;
    return p->kind == TOK_PIECE_NORMAL || p->kind == TOK_PIECE_USER;
}

int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t len)
{
    if (!v->n_slots)
        return -1;
    for (size_t i = fnv(s, len) & (v->n_slots - 1);; i = (i + 1) & (v->n_slots - 1)) {
        int32_t slot = v->slots[i];
        if (!slot)
            return -1;
        const tok_piece *p = &v->pieces[slot - 1];
        if (p->len == len && !memcmp(v->pool.data + p->off, s, len))
            return slot - 1;
    }
}

int tok_vocab_finish(tok_vocab *v, const char *label, loom_error *err)
{
    size_t n_slots = 16;
    while (n_slots < 2 * (size_t)v->n)
        n_slots *= 2;
    v->slots = calloc(n_slots, sizeof *v->slots);
    if (!v->slots)
        return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory for the vocabulary index", label);
    v->n_slots = n_slots;
    v->min_score = 1e300;
    v->max_score = -1e300;
    for (int i = 0; i < 256; i++)
        v->byte_ids[i] = -1;
    for (int32_t id = 0; id < v->n; id++) {
        const tok_piece *p = &v->pieces[id];
        const char *s = v->pool.data + p->off;
        size_t i = fnv(s, p->len) & (n_slots - 1);
        for (;; i = (i + 1) & (n_slots - 1)) {
            int32_t slot = v->slots[i];
            if (!slot) {
                v->slots[i] = id + 1;
                break;
            }
            const tok_piece *q = &v->pieces[slot - 1];
            if (q->len == p->len && !memcmp(v->pool.data + q->off, s, p->len)) {
                /* HF's token_to_ids map keeps the last duplicate, sentencepiece the first */
                if (v->flavour == TOK_FLAVOUR_HF)
                    v->slots[i] = id + 1;
                break;
            }
        }
        if (matchable(v, p) && p->len > v->max_match_bytes)
            v->max_match_bytes = p->len;
        int scored = v->flavour == TOK_FLAVOUR_HF || p->kind == TOK_PIECE_NORMAL;
        if (scored && p->score < v->min_score)
            v->min_score = p->score;
        if (scored && p->score > v->max_score)
            v->max_score = p->score;
        unsigned hi, lo;
        if (p->len == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>' &&
            (v->flavour == TOK_FLAVOUR_HF || p->kind == TOK_PIECE_BYTE)) {
            const char *hex = "0123456789ABCDEF";
            const char *a = memchr(hex, s[3], 16), *b = memchr(hex, s[4], 16);
            if (a && b && s[3] && s[4]) {
                hi = (unsigned)(a - hex), lo = (unsigned)(b - hex);
                if (v->byte_ids[hi * 16 + lo] < 0)
                    v->byte_ids[hi * 16 + lo] = id;
            }
        }
    }
    if (v->min_score > v->max_score)
        v->min_score = v->max_score = 0;
    return LOOM_OK;
}

void tok_vocab_free(tok_vocab *v)
{
    tok_buf_free(&v->pool);
    free(v->pieces);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

typedef struct lattice_node {
    double  score;      /* best path score ending here */
    int32_t start;      /* where the last piece of that path starts; -1 unreached */
    int32_t id;         /* that piece (unk_id for an unknown character) */
} lattice_node;

static int is_boundary(const char *s, size_t n, size_t i)
{
    return i >= n || ((unsigned char)s[i] & 0xC0) != 0x80;
}

static int emit_bytes(const tok_vocab *v, const char *s, size_t len, tok_ids *out, int *done)
{
    *done = 0;
    for (size_t i = 0; i < len; i++)
        if (v->byte_ids[(unsigned char)s[i]] < 0)
            return 0;
    for (size_t i = 0; i < len; i++)
        if (tok_ids_push(out, v->byte_ids[(unsigned char)s[i]]))
            return -1;
    *done = 1;
    return 0;
}

/* Append the ids of one lattice result string (HF: looked up again; fused unknowns). */
static int emit_hf(const tok_vocab *v, const char *s, size_t len, tok_ids *out)
{
    int32_t id = tok_vocab_find(v, s, len);
    if (id >= 0)
        return tok_ids_push(out, id);
    if (v->byte_fallback) {
        int done;
        if (emit_bytes(v, s, len, out, &done))
            return -1;
        if (done)
            return 0;
    }
    return tok_ids_push(out, v->unk_id);
}

int tok_vocab_segment(const tok_vocab *v, const char *s, size_t n, tok_ids *out, loom_error *err)
{
    if (n == 0)
        return LOOM_OK;
    if (n > TOK_MAX_TEXT_BYTES)
        return loom_errorf(err, LOOM_ERR_INVALID, "tokenizer: text of %zu bytes exceeds the limit of %u",
                           n, TOK_MAX_TEXT_BYTES);
    lattice_node *lat = malloc((n + 1) * sizeof *lat);
    if (!lat)
        return loom_errorf(err, LOOM_ERR_NOMEM, "tokenizer: out of memory for a %zu-byte text", n);
    for (size_t i = 0; i <= n; i++)
        lat[i].start = -1, lat[i].score = 0, lat[i].id = -1;
    lat[0].start = 0;
    const int f32 = v->flavour == TOK_FLAVOUR_SPM;
    const double unk_score = f32 ? (double)((float)v->min_score - (float)TOK_UNK_PENALTY)
                                 : v->min_score - TOK_UNK_PENALTY;
    int rc = LOOM_OK;
    for (size_t at = 0; at < n;) {
        size_t mblen;
        tok_utf8_decode(s + at, n - at, &mblen);
        const double base = lat[at].score;
        int has_single = 0;
        uint64_t h = FNV_OFFSET;
        size_t max_len = v->max_match_bytes < n - at ? v->max_match_bytes : n - at;
        for (size_t len = 1; len <= max_len; len++) {
            h = fnv_step(h, (unsigned char)s[at + len - 1]);
            if (!is_boundary(s, n, at + len))
                continue;
            int32_t id = -1;
            for (size_t i = h & (v->n_slots - 1);; i = (i + 1) & (v->n_slots - 1)) {
                int32_t slot = v->slots[i];
                if (!slot)
                    break;
                const tok_piece *p = &v->pieces[slot - 1];
                if (p->len == len && !memcmp(v->pool.data + p->off, s + at, len)) {
                    id = slot - 1;
                    break;
                }
            }
            if (id < 0 || !matchable(v, &v->pieces[id]))
                continue;
            const tok_piece *p = &v->pieces[id];
            double score = (f32 && p->kind == TOK_PIECE_USER) ? (double)len * v->max_score - 0.1 : p->score;
            double cand = f32 ? (double)((float)score + (float)base) : score + base;
            lattice_node *t = &lat[at + len];
            if (t->start < 0 || cand > t->score)
                t->score = cand, t->start = (int32_t)at, t->id = id;
            if (len == mblen)
                has_single = 1;
        }
        if (!has_single) {
            if (v->unk_id < 0) {
                rc = loom_errorf(err, LOOM_ERR_INVALID, "tokenizer: the text has a character no piece "
                                 "covers and the model defines no unknown token");
                goto done;
            }
            double cand = f32 ? (double)((float)unk_score + (float)base) : unk_score + base;
            lattice_node *t = &lat[at + mblen];
            if (t->start < 0 || cand > t->score)
                t->score = cand, t->start = (int32_t)at, t->id = v->unk_id;
        }
        at += mblen;
    }
    /* backtrack: collect the path's nodes end-first, then emit them in order */
    size_t count = 0;
    for (size_t end = n; end > 0; end = (size_t)lat[end].start)
        count++;
    size_t *ends = malloc(count * sizeof *ends);
    if (!ends) {
        rc = loom_errorf(err, LOOM_ERR_NOMEM, "tokenizer: out of memory");
        goto done;
    }
    size_t k = count;
    for (size_t end = n; end > 0; end = (size_t)lat[end].start)
        ends[--k] = end;
    for (size_t i = 0; i < count && rc == LOOM_OK; i++) {
        size_t end = ends[i], start = (size_t)lat[end].start;
        int32_t id = lat[end].id;
        int fail;
        if (v->flavour == TOK_FLAVOUR_HF) {
            if (id == v->unk_id) {      /* fuse a run of unknowns into one string */
                while (i + 1 < count && lat[ends[i + 1]].id == v->unk_id)
                    end = ends[++i];
            }
            fail = emit_hf(v, s + start, end - start, out);
        } else if (id == v->unk_id && v->byte_fallback) {
            int done;
            fail = emit_bytes(v, s + start, end - start, out, &done);
            for (size_t b = start; !fail && !done && b < end; b++)   /* a byte piece missing */
                fail = tok_ids_push(out, v->unk_id);
        } else if (id == v->unk_id) {   /* sentencepiece merges a run of unknowns too */
            while (i + 1 < count && lat[ends[i + 1]].id == v->unk_id)
                i++;
            fail = tok_ids_push(out, id);
        } else {
            fail = tok_ids_push(out, id);
        }
        if (fail)
            rc = loom_errorf(err, LOOM_ERR_NOMEM, "tokenizer: out of memory");
    }
    free(ends);
done:
    free(lat);
    return rc;
}
