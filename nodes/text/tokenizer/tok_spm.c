/* tok_spm.c: SentencePiece `.model` files: a bounds-checked protobuf reader for the
 * ModelProto and the native sentencepiece text pipeline.
 *
 * Only the fields encoding needs are read (pieces: piece/score/type; trainer_spec:
 * model_type, byte_fallback, unk/eos/pad ids, treat_whitespace_as_suffix; normalizer_spec:
 * charsmap, add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces); everything else
 * is skipped by wire type. Every length is checked against the bytes left, varints stop at
 * 10 bytes and groups (deprecated) are rejected, so a hostile file can only produce an error.
 *
 * Encoding follows sentencepiece's Normalizer::Normalize (longest charsmap rule per step,
 * leading/trailing/duplicate spaces dropped, " " -> U+2581, one dummy-prefix U+2581) and
 * then one Viterbi pass over the whole normalised string (tok_vocab.c, f32 flavour).
 * User-defined symbols are scored as sentencepiece scores them but are not protected from
 * normalisation (umT5 has none).
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

#define SPACE_SYMBOL "\xE2\x96\x81"   /* U+2581 LOWER ONE EIGHTH BLOCK, sentencepiece's space */

struct tok_spm_pipeline {
    tok_charsmap charsmap;
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces, whitespace_as_suffix;
};

/* ---- protobuf wire format ------------------------------------------------------------ */

typedef struct pb_reader {
    const uint8_t *p, *end;
} pb_reader;

typedef struct pb_field {
    uint32_t number;
    int      wire;           /* 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
    uint64_t value;          /* varint / fixed value */
    const uint8_t *data;     /* wire 2 */
    size_t   len;
} pb_field;

static int pb_varint(pb_reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Read the next field; 1 = got one, 0 = end of message, -1 = malformed. */
static int pb_next(pb_reader *r, pb_field *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    if (pb_varint(r, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    switch (f->wire) {
    case 0:
        return pb_varint(r, &f->value) ? -1 : 1;
    case 1:
        if (r->end - r->p < 8)
            return -1;
        f->value = 0;
        for (int i = 7; i >= 0; i--)
            f->value = f->value << 8 | r->p[i];
        r->p += 8;
        return 1;
    case 2: {
        uint64_t len;
        if (pb_varint(r, &len) || len > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    case 5:
        if (r->end - r->p < 4)
            return -1;
        f->value = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 | (uint64_t)r->p[2] << 16 |
                   (uint64_t)r->p[3] << 24;
        r->p += 4;
        return 1;
    default:
        return -1;
    }
}

static float pb_float(const pb_field *f)
{
    uint32_t bits = (uint32_t)f->value;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* ---- ModelProto ----------------------------------------------------------------------- */

typedef struct spm_spec {
    int64_t model_type, unk_id, eos_id, pad_id;
    int     byte_fallback, whitespace_as_suffix;
    int     add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    const uint8_t *charsmap;
    size_t  charsmap_len;
} spm_spec;

static int malformed(const char *label, const char *what, loom_error *err)
{
    return loom_errorf(err, LOOM_ERR_INVALID, "%s: not a valid SentencePiece model (%s)", label, what);
}

static int parse_piece(tok_vocab *v, const uint8_t *data, size_t len, const char *label,
                       loom_error *err)
{
    pb_reader r = {data, data + len};
    pb_field f;
    const uint8_t *piece = NULL;
    size_t piece_len = 0;
    float score = 0;
    int64_t type = TOK_PIECE_NORMAL;
    int got;
    while ((got = pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == 2)
            piece = f.data, piece_len = f.len;
        else if (f.number == 2 && f.wire == 5)
            score = pb_float(&f);
        else if (f.number == 3 && f.wire == 0)
            type = (int64_t)f.value;
    }
    if (got < 0)
        return malformed(label, "a truncated piece record", err);
    if (!piece)
        return malformed(label, "a piece without text", err);
    if (type < TOK_PIECE_NORMAL || type > TOK_PIECE_BYTE)
        return malformed(label, "a piece of unknown type", err);
    return tok_vocab_add(v, (const char *)piece, piece_len, score, (int)type, label, err);
}

static int parse_trainer(spm_spec *sp, const uint8_t *data, size_t len)
{
    pb_reader r = {data, data + len};
    pb_field f;
    int got;
    while ((got = pb_next(&r, &f)) == 1) {
        if (f.wire != 0)
            continue;
        switch (f.number) {
        case 3:  sp->model_type = (int64_t)f.value; break;
        case 24: sp->whitespace_as_suffix = f.value != 0; break;
        case 35: sp->byte_fallback = f.value != 0; break;
        case 40: sp->unk_id = (int32_t)f.value; break;
        case 42: sp->eos_id = (int32_t)f.value; break;
        case 43: sp->pad_id = (int32_t)f.value; break;
        }
    }
    return got;
}

static int parse_normalizer(spm_spec *sp, const uint8_t *data, size_t len)
{
    pb_reader r = {data, data + len};
    pb_field f;
    int got;
    while ((got = pb_next(&r, &f)) == 1) {
        if (f.number == 2 && f.wire == 2)
            sp->charsmap = f.data, sp->charsmap_len = f.len;
        else if (f.wire == 0 && f.number == 3)
            sp->add_dummy_prefix = f.value != 0;
        else if (f.wire == 0 && f.number == 4)
            sp->remove_extra_whitespaces = f.value != 0;
        else if (f.wire == 0 && f.number == 5)
            sp->escape_whitespaces = f.value != 0;
    }
    return got;
}

int tok_load_spm(const void *data, size_t len, const char *label, tok_model **out, loom_error *err)
{
    *out = NULL;
    if (len > TOK_MAX_FILE_BYTES)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: %zu bytes is more than the %u-byte limit for "
                           "a tokenizer", label, len, TOK_MAX_FILE_BYTES);
    /* the proto's defaults (sentencepiece_model.proto) */
    spm_spec sp = {.model_type = 1, .unk_id = 0, .eos_id = 2, .pad_id = -1,
                   .add_dummy_prefix = 1, .remove_extra_whitespaces = 1, .escape_whitespaces = 1};
    tok_model *m = calloc(1, sizeof *m);
    tok_spm_pipeline *pl = calloc(1, sizeof *pl);
    if (!m || !pl) {
        free(m);
        free(pl);
        return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory", label);
    }
    m->spm = pl;
    m->vocab.flavour = TOK_FLAVOUR_SPM;
    m->vocab.unk_id = -1;
    int rc = LOOM_OK, got;
    pb_reader r = {data, (const uint8_t *)data + len};
    pb_field f;
    while (rc == LOOM_OK && (got = pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == 2)
            rc = parse_piece(&m->vocab, f.data, f.len, label, err);
        else if (f.number == 2 && f.wire == 2 && parse_trainer(&sp, f.data, f.len) < 0)
            rc = malformed(label, "a truncated trainer_spec", err);
        else if (f.number == 3 && f.wire == 2 && parse_normalizer(&sp, f.data, f.len) < 0)
            rc = malformed(label, "a truncated normalizer_spec", err);
    }
    if (rc == LOOM_OK && got < 0)
        rc = malformed(label, "a truncated or corrupt field", err);
    if (rc == LOOM_OK && m->vocab.n == 0)
        rc = malformed(label, "no pieces", err);
    if (rc == LOOM_OK && sp.model_type != 1)
        rc = loom_errorf(err, LOOM_ERR_UNSUPPORTED, "%s: SentencePiece model type %lld is not Unigram; "
                         "only Unigram models (umT5, T5) are supported", label, (long long)sp.model_type);
    if (rc == LOOM_OK)
        rc = tok_charsmap_init(&pl->charsmap, sp.charsmap, sp.charsmap_len, label, err);
    if (rc == LOOM_OK)
        rc = tok_vocab_finish(&m->vocab, label, err);
    if (rc != LOOM_OK) {
        tok_free(m);
        return rc;
    }
    pl->add_dummy_prefix = sp.add_dummy_prefix;
    pl->remove_extra_whitespaces = sp.remove_extra_whitespaces;
    pl->escape_whitespaces = sp.escape_whitespaces;
    pl->whitespace_as_suffix = sp.whitespace_as_suffix;
    m->vocab.byte_fallback = sp.byte_fallback;
    for (int32_t i = 0; i < m->vocab.n && m->vocab.unk_id < 0; i++)
        if (m->vocab.pieces[i].kind == TOK_PIECE_UNKNOWN)
            m->vocab.unk_id = i;
    if (m->vocab.unk_id < 0 && sp.unk_id >= 0 && sp.unk_id < m->vocab.n)
        m->vocab.unk_id = (int32_t)sp.unk_id;
    int32_t eos = tok_vocab_find(&m->vocab, "</s>", 4), pad = tok_vocab_find(&m->vocab, "<pad>", 5);
    m->eos_id = eos >= 0 ? eos : (sp.eos_id >= 0 && sp.eos_id < m->vocab.n ? (int32_t)sp.eos_id : -1);
    m->pad_id = pad >= 0 ? pad : (sp.pad_id >= 0 && sp.pad_id < m->vocab.n ? (int32_t)sp.pad_id : 0);
    m->n_ids = m->vocab.n;
    *out = m;
    return LOOM_OK;
}

void tok_spm_free(tok_spm_pipeline *p)
{
    if (!p)
        return;
    tok_charsmap_free(&p->charsmap);
    free(p);
}

/* ---- encoding ------------------------------------------------------------------------- */

static int ends_with_space(const tok_buf *b, const char *space, size_t n)
{
    return b->len >= n && !memcmp(b->data + b->len - n, space, n);
}

static int spm_normalize(const tok_spm_pipeline *pl, const char *s, size_t n, tok_buf *out)
{
    const char *rep;
    size_t rep_len;
    if (pl->remove_extra_whitespaces) {          /* drop leading spaces */
        while (n) {
            size_t used = tok_charsmap_prefix(&pl->charsmap, s, n, &rep, &rep_len);
            if (rep_len != 1 || rep[0] != ' ')
                break;
            s += used, n -= used;
        }
    }
    if (!n)
        return tok_buf_put(out, "", 0);
    const char *space = pl->escape_whitespaces ? SPACE_SYMBOL : " ";
    size_t space_len = strlen(space);
    if (!pl->whitespace_as_suffix && pl->add_dummy_prefix && tok_buf_put(out, space, space_len))
        return -1;
    int prev_space = pl->remove_extra_whitespaces;
    while (n) {
        size_t used = tok_charsmap_prefix(&pl->charsmap, s, n, &rep, &rep_len);
        if (prev_space)
            while (rep_len && rep[0] == ' ')
                rep++, rep_len--;
        if (rep_len) {
            for (size_t i = 0; i < rep_len; i++) {
                int fail = pl->escape_whitespaces && rep[i] == ' ' ? tok_buf_put(out, SPACE_SYMBOL, 3)
                                                                  : tok_buf_put(out, rep + i, 1);
                if (fail)
                    return -1;
            }
            prev_space = rep[rep_len - 1] == ' ';
        }
        s += used, n -= used;
        if (!pl->remove_extra_whitespaces)
            prev_space = 0;
    }
    if (pl->remove_extra_whitespaces)
        while (ends_with_space(out, space, space_len))
            out->len -= space_len;
    if (pl->whitespace_as_suffix && pl->add_dummy_prefix && tok_buf_put(out, space, space_len))
        return -1;
    return tok_buf_put(out, "", 0);
}

int tok_spm_encode(const tok_model *m, const char *s, size_t n, tok_ids *out, loom_error *err)
{
    tok_buf clean = {0}, norm = {0};
    int rc = LOOM_OK;
    if (tok_utf8_sanitize(s, n, &clean) || spm_normalize(m->spm, clean.data, clean.len, &norm))
        rc = loom_errorf(err, LOOM_ERR_NOMEM, "tokenizer: out of memory normalising the text");
    else
        rc = tok_vocab_segment(&m->vocab, norm.data, norm.len, out, err);
    tok_buf_free(&clean);
    tok_buf_free(&norm);
    return rc;
}
