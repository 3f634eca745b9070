/* tok_hf_encode.c: running a tokenizer.json pipeline (tok_hf.h) as HF `tokenizers` does.
 *
 * Added tokens split the raw text first; each stretch between them is normalised step by
 * step, split into words by the pre-tokenisers (a word list is offsets into one buffer),
 * and each word is segmented on its own (tok_vocab.c, HF flavour). Metaspace's "first"
 * scheme prepends only to the stretch that starts the input, as HF checks the original
 * offset 0.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_hf.h"

/* Length of the whitespace run starting at s (forward). */
static size_t space_run(const char *s, size_t n)
{
    size_t i = 0, len;
    while ((len = tok_space_at(s + i, n - i, 0)))
        i += len;
    return i;
}

/* Length of the whitespace run ending at s + n (backward). */
static size_t space_run_back(const char *s, size_t n)
{
    size_t end = n, len;
    while ((len = tok_space_before(s, end, 0)))
        end -= len;
    return n - end;
}

static int apply_norm(const hf_norm *nm, const tok_buf *in, tok_buf *out)
{
    const char *s = in->data;
    size_t n = in->len;
    switch (nm->kind) {
    case NORM_PRECOMPILED:
        return tok_charsmap_normalize_hf(&nm->charsmap, s, n, out);
    case NORM_STRIP: {
        size_t lead = nm->left ? space_run(s, n) : 0;
        size_t trail = nm->right && lead < n ? space_run_back(s + lead, n - lead) : 0;
        return tok_buf_put(out, s + lead, n - lead - trail);
    }
    case NORM_UNICODE:
        return uni_normalize(nm->form, s, n, out);
    case NORM_PREPEND:
        if (n && tok_buf_put(out, nm->content, nm->content_len))
            return -1;
        return tok_buf_put(out, s, n);
    case NORM_REPLACE:
        for (size_t i = 0; i < n;) {
            size_t reps = 0, j = i;
            while (j + nm->pattern_len <= n && !memcmp(s + j, nm->pattern, nm->pattern_len) &&
                   (nm->min_repeat || reps == 0)) {
                j += nm->pattern_len;
                reps++;
            }
            if (reps && (int)reps >= (nm->min_repeat ? nm->min_repeat : 1)) {
                if (tok_buf_put(out, nm->content, nm->content_len))
                    return -1;
                i = j;
            } else {
                size_t len;
                tok_utf8_decode(s + i, n - i, &len);
                if (tok_buf_put(out, s + i, len))
                    return -1;
                i += len;
            }
        }
        return tok_buf_put(out, "", 0);
    }
    return -1;
}

/* A word list: offsets into one text buffer. */
typedef struct word_list {
    tok_buf  text;
    size_t  *start, *len;
    size_t   n, cap;
} word_list;

static int words_push(word_list *w, size_t start, size_t len)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        size_t *a = realloc(w->start, cap * sizeof *a);
        if (!a)
            return -1;
        w->start = a;
        size_t *b = realloc(w->len, cap * sizeof *b);
        if (!b)
            return -1;
        w->len = b;
        w->cap = cap;
    }
    w->start[w->n] = start;
    w->len[w->n] = len;
    w->n++;
    return 0;
}

static void words_free(word_list *w)
{
    tok_buf_free(&w->text);
    free(w->start);
    free(w->len);
    memset(w, 0, sizeof *w);
}

/* Apply one pre-tokeniser step to every word of in, producing out. first_section: this
 * segment starts the input (Metaspace "first"). */
static int apply_pretok(const hf_pretok *pt, const word_list *in, int first_section, word_list *out)
{
    for (size_t w = 0; w < in->n; w++) {
        const char *s = in->text.data + in->start[w];
        size_t n = in->len[w];
        if (!pt->metaspace) {        /* WhitespaceSplit: runs of non-whitespace */
            for (size_t i = 0; i < n;) {
                size_t sp = space_run(s + i, n - i);
                i += sp;
                size_t j = i, len;
                while (j < n && !tok_space_at(s + j, n - j, 0)) {
                    tok_utf8_decode(s + j, n - j, &len);
                    j += len;
                }
                if (j > i) {
                    if (words_push(out, out->text.len, j - i) || tok_buf_put(&out->text, s + i, j - i))
                        return -1;
                }
                i = j;
            }
            continue;
        }
        /* Metaspace: ' ' -> replacement, prepend, split before each replacement */
        size_t base = out->text.len;
        int starts_with_rep = n > 0 && (s[0] == ' ' || (n >= pt->replacement_len &&
                                        !memcmp(s, pt->replacement, pt->replacement_len)));
        int prepend = n > 0 && !starts_with_rep &&
                      (pt->prepend == PREPEND_ALWAYS || (pt->prepend == PREPEND_FIRST && first_section && w == 0));
        if (prepend && tok_buf_put(&out->text, pt->replacement, pt->replacement_len))
            return -1;
        for (size_t i = 0; i < n; i++) {
            int fail = s[i] == ' ' ? tok_buf_put(&out->text, pt->replacement, pt->replacement_len)
                                   : tok_buf_put(&out->text, s + i, 1);
            if (fail)
                return -1;
        }
        const char *t = out->text.data + base;
        size_t tn = out->text.len - base, start = 0;
        if (!pt->split) {
            if (tn && words_push(out, base, tn))
                return -1;
            continue;
        }
        for (size_t i = 1; i <= tn; i++) {
            int at_rep = i < tn && tn - i >= pt->replacement_len &&
                         !memcmp(t + i, pt->replacement, pt->replacement_len);
            if (i == tn || at_rep) {
                if (words_push(out, base + start, i - start))
                    return -1;
                start = i;
            }
        }
    }
    return 0;
}

/* Normalise, pre-tokenise and segment one stretch of text between added tokens. */
static int encode_section(const tok_model *m, const char *s, size_t n, int first_section, tok_ids *out,
                          loom_error *err)
{
    const tok_hf_pipeline *pl = m->hf;
    tok_buf a = {0}, b = {0};
    int rc = LOOM_OK;
    if (tok_buf_put(&a, s, n))
        goto oom;
    for (size_t i = 0; i < pl->n_norms; i++) {
        b.len = 0;
        if (apply_norm(&pl->norms[i], &a, &b))
            goto oom;
        tok_buf t = a;
        a = b;
        b = t;
    }
    word_list words = {0}, next = {0};
    if (a.len && (words_push(&words, 0, a.len) || tok_buf_put(&words.text, a.data, a.len))) {
        words_free(&words);
        goto oom;
    }
    for (size_t i = 0; i < pl->n_pretoks; i++) {
        if (apply_pretok(&pl->pretoks[i], &words, first_section, &next)) {
            words_free(&words);
            words_free(&next);
            goto oom;
        }
        words_free(&words);
        words = next;
        memset(&next, 0, sizeof next);
    }
    for (size_t w = 0; w < words.n && rc == LOOM_OK; w++)
        rc = tok_vocab_segment(&m->vocab, words.text.data + words.start[w], words.len[w], out, err);
    words_free(&words);
    tok_buf_free(&a);
    tok_buf_free(&b);
    return rc;
oom:
    tok_buf_free(&a);
    tok_buf_free(&b);
    return loom_errorf(err, LOOM_ERR_NOMEM, "tokenizer: out of memory");
}

/* The longest added token starting at s[i], or NULL. */
static const hf_added *added_at(const tok_hf_pipeline *pl, const char *s, size_t n, size_t i)
{
    const hf_added *best = NULL;
    for (size_t k = 0; k < pl->n_added; k++) {
        const hf_added *a = &pl->added[k];
        if (a->content[0] == s[i] && a->len <= n - i && (!best || a->len > best->len) &&
            !memcmp(s + i, a->content, a->len))
            best = a;
    }
    return best;
}

int tok_hf_encode(const tok_model *m, const char *text, size_t len, tok_ids *out, loom_error *err)
{
    const tok_hf_pipeline *pl = m->hf;
    tok_buf clean = {0};
    if (tok_utf8_sanitize(text, len, &clean))
        return loom_errorf(err, LOOM_ERR_NOMEM, "tokenizer: out of memory");
    const char *s = clean.data;
    size_t n = clean.len, section = 0;
    int rc = LOOM_OK;
    for (size_t i = 0; i < n && rc == LOOM_OK;) {
        const hf_added *a = pl->n_added ? added_at(pl, s, n, i) : NULL;
        if (!a) {
            i++;
            continue;
        }
        size_t end_text = i, next = i + a->len;
        if (a->lstrip)
            end_text -= space_run_back(s + section, i - section);
        if (a->rstrip)
            next += space_run(s + next, n - next);
        rc = encode_section(m, s + section, end_text - section, section == 0, out, err);
        if (rc == LOOM_OK && tok_ids_push(out, a->id))
            rc = loom_errorf(err, LOOM_ERR_NOMEM, "tokenizer: out of memory");
        section = i = next;
    }
    if (rc == LOOM_OK && section < n)
        rc = encode_section(m, s + section, n - section, section == 0, out, err);
    tok_buf_free(&clean);
    return rc;
}
