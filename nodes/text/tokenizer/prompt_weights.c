/* prompt_weights.c: ComfyUI's prompt-weighting syntax and tokenize_with_weights for the
 * Wan umT5 tokenizer (see prompt_weights.h for the rules).
 *
 * The parser mirrors comfy/sd1_clip.py step for step so that odd inputs split the same way:
 * escape_important turns `\)` / `\(` into the two-byte placeholders NUL,1 / NUL,2 (a C
 * string never holds NUL, so they cannot collide with text); parse_parentheses cuts the
 * text into top-level items, which are always contiguous ranges of it; token_weights
 * recurses into each bracketed item. A weight is a double, as in Python; the encoder
 * applies it in f32 like torch does.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prompt_weights.h"
#include "tok_internal.h"

#define EMBEDDING_PREFIX "embedding:"

typedef struct seg_list {
    prompt_segment *v;
    size_t n, cap;
} seg_list;

static int seg_push(seg_list *l, const char *s, size_t n, double w)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        prompt_segment *p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return -1;
        l->v = p;
        l->cap = cap;
    }
    char *t = malloc(n + 1);
    if (!t)
        return -1;
    /* unescape_important: NUL,1 -> ')' and NUL,2 -> '(' */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' && i + 1 < n && (s[i + 1] == 1 || s[i + 1] == 2)) {
            t[o++] = s[i + 1] == 1 ? ')' : '(';
            i++;
        } else {
            t[o++] = s[i];
        }
    }
    t[o] = '\0';
    l->v[l->n].text = t;
    l->v[l->n].weight = w;
    l->n++;
    return 0;
}

/* Python's float(str): surrounding whitespace, sign, decimal digits with '_' between digits,
 * optional fraction and exponent, or inf / infinity / nan. No hex, unlike strtod. */
static int py_float(const char *s, size_t n, double *out)
{
    size_t sp;
    while ((sp = tok_space_at(s, n, 1)))
        s += sp, n -= sp;
    while ((sp = tok_space_before(s, n, 1)))
        n -= sp;
    if (!n || n > 256)
        return -1;
    char buf[260];
    size_t o = 0, i = 0;
    if (s[i] == '+' || s[i] == '-')
        buf[o++] = s[i++];
    const char *words[] = {"inf", "infinity", "nan"};
    for (size_t w = 0; w < 3; w++) {
        if (n - i == strlen(words[w]) && !strncasecmp(s + i, words[w], n - i)) {
            memcpy(buf + o, s + i, n - i);
            buf[o + n - i] = 0;
            *out = strtod(buf, NULL);
            return 0;
        }
    }
    int digits = 0, dot = 0, exp = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            digits = 1;
        } else if (c == '_') {
            if (i == 0 || i + 1 >= n || !isdigit((unsigned char)s[i - 1]) || !isdigit((unsigned char)s[i + 1]))
                return -1;
            continue;
        } else if (c == '.' && !dot && !exp) {
            dot = 1;
        } else if ((c == 'e' || c == 'E') && digits && !exp) {
            exp = 1;
            buf[o++] = c;
            if (i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-'))
                buf[o++] = s[++i];
            if (i + 1 >= n || !isdigit((unsigned char)s[i + 1]))
                return -1;
            continue;
        } else {
            return -1;
        }
        buf[o++] = c;
    }
    if (!digits)
        return -1;
    buf[o] = 0;
    *out = strtod(buf, NULL);
    return 0;
}

static int token_weights(const char *s, size_t n, double weight, int depth, seg_list *out, loom_error *err);

/* One parse_parentheses item s[0, n): a bracketed item recurses with its weight, any other
 * item is a segment. */
static int weigh_item(const char *s, size_t n, double weight, int depth, seg_list *out, loom_error *err)
{
    if (n < 2 || s[0] != '(' || s[n - 1] != ')')
        return seg_push(out, s, n, weight) ? loom_errorf(err, LOOM_ERR_NOMEM, "prompt: out of memory") : LOOM_OK;
    const char *inner = s + 1;
    size_t len = n - 2, colon = len;
    double w = weight * 1.1, parsed;
    for (size_t k = len; k-- > 0;)          /* x.rfind(":") */
        if (inner[k] == ':') {
            colon = k;
            break;
        }
    if (colon != len && colon > 0 && py_float(inner + colon + 1, len - colon - 1, &parsed) == 0) {
        w = parsed;
        len = colon;
    }
    return token_weights(inner, len, w, depth + 1, out, err);
}

static int token_weights(const char *s, size_t n, double weight, int depth, seg_list *out, loom_error *err)
{
    if (depth > PROMPT_MAX_NESTING)
        return loom_errorf(err, LOOM_ERR_INVALID, "prompt: brackets nest deeper than %d levels", PROMPT_MAX_NESTING);
    size_t item = 0;      /* the current item is s[item, i) */
    long level = 0;
    int rc = LOOM_OK;
    for (size_t i = 0; i < n && rc == LOOM_OK; i++) {
        if (s[i] == '(') {
            if (level == 0) {
                if (i > item)
                    rc = weigh_item(s + item, i - item, weight, depth, out, err);
                item = i;
            }
            level++;
        } else if (s[i] == ')') {
            if (--level == 0) {
                rc = weigh_item(s + item, i + 1 - item, weight, depth, out, err);
                item = i + 1;
            }
        }
    }
    if (rc == LOOM_OK && n > item)
        rc = weigh_item(s + item, n - item, weight, depth, out, err);
    return rc;
}

int prompt_parse_weights(const char *text, prompt_segment **out, size_t *n, loom_error *err)
{
    size_t len = strlen(text);
    char *esc = malloc(len + 1);
    if (!esc)
        return loom_errorf(err, LOOM_ERR_NOMEM, "prompt: out of memory");
    /* escape_important: first every "\)", then every "\(" */
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\\' && i + 1 < len && text[i + 1] == ')') {
            esc[o++] = '\0', esc[o++] = 1, i++;
        } else if (text[i] == '\\' && i + 1 < len && text[i + 1] == '(') {
            esc[o++] = '\0', esc[o++] = 2, i++;
        } else {
            esc[o++] = text[i];
        }
    }
    seg_list segs = {0};
    int rc = token_weights(esc, o, 1.0, 0, &segs, err);
    free(esc);
    if (rc) {
        prompt_segments_free(segs.v, segs.n);
        return rc;
    }
    *out = segs.v;
    *n = segs.n;
    return LOOM_OK;
}

void prompt_segments_free(prompt_segment *segs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(segs[i].text);
    free(segs);
}

static int push_token(prompt_tokens *t, size_t *cap, int32_t id, double w)
{
    if (t->n == *cap) {
        size_t c = *cap ? 2 * *cap : 512;
        int32_t *ids = realloc(t->ids, c * sizeof *ids);
        if (!ids)
            return -1;
        t->ids = ids;
        double *ws = realloc(t->weights, c * sizeof *ws);
        if (!ws)
            return -1;
        t->weights = ws;
        *cap = c;
    }
    t->ids[t->n] = id;
    t->weights[t->n] = w;
    t->n++;
    return 0;
}

static int encode_append(const tok_model *tok, const char *s, size_t n, double w, prompt_tokens *t, size_t *cap,
                         loom_error *err)
{
    tok_ids ids = {0};
    int rc = tok_encode(tok, s, n, &ids, err);
    for (size_t i = 0; rc == LOOM_OK && i < ids.n; i++)
        if (push_token(t, cap, ids.ids[i], w))
            rc = loom_errorf(err, LOOM_ERR_NOMEM, "prompt: out of memory");
    tok_ids_free(&ids);
    return rc;
}

/* One word of a segment: a missing `embedding:NAME` is dropped, keeping what
 * _try_get_embedding hands back as leftover (other words, stray commas). */
static int encode_word(const tok_model *tok, const char *w, size_t n, double weight, prompt_tokens *t,
                       size_t *cap, loom_error *err)
{
    size_t plen = strlen(EMBEDDING_PREFIX);
    if (n < plen || memcmp(w, EMBEDDING_PREFIX, plen))
        return encode_append(tok, w, n, weight, t, cap, err);
    const char *name = w + plen, *end = w + n;
    while (name < end && *name == '\n')                 /* .strip('\n') */
        name++;
    while (end > name && end[-1] == '\n')
        end--;
    size_t sp;
    while ((sp = tok_space_at(name, (size_t)(end - name), 1)))   /* .split()[0] */
        name += sp;
    const char *first_end = name;
    while (first_end < end && !tok_space_at(first_end, (size_t)(end - first_end), 1))
        first_end++;
    const char *rest = first_end;
    while ((sp = tok_space_at(rest, (size_t)(end - rest), 1)))
        rest += sp;
    /* leftover = ' '.join(split[1:]): rejoin the other words with single spaces */
    size_t cap_left = (size_t)(end - name) + 2, o = 0;
    char *left = malloc(cap_left + 1);
    if (!left)
        return loom_errorf(err, LOOM_ERR_NOMEM, "prompt: out of memory");
    const char *stripped = name, *stripped_end = first_end;
    while (stripped < stripped_end && *stripped == ',')
        stripped++;
    while (stripped_end > stripped && stripped_end[-1] == ',')
        stripped_end--;
    size_t first_len = (size_t)(first_end - name), stripped_len = (size_t)(stripped_end - stripped);
    if (stripped_len < first_len) {   /* "{} {}".format(name[len(stripped):], leftover) */
        memcpy(left, name + stripped_len, first_len - stripped_len);
        o = first_len - stripped_len;
        left[o++] = ' ';
    }
    for (const char *p = rest; p < end;) {
        const char *q = p;
        while (q < end && !tok_space_at(q, (size_t)(end - q), 1))
            q++;
        if (o && left[o - 1] != ' ')
            left[o++] = ' ';
        memcpy(left + o, p, (size_t)(q - p));
        o += (size_t)(q - p);
        while ((sp = tok_space_at(q, (size_t)(end - q), 1)))
            q += sp;
        p = q;
    }
    int rc = o ? encode_append(tok, left, o, weight, t, cap, err) : LOOM_OK;
    free(left);
    return rc;
}

int prompt_tokenize(const tok_model *tok, const char *text, size_t min_length, prompt_tokens *out,
                    loom_error *err)
{
    memset(out, 0, sizeof *out);
    prompt_segment *segs;
    size_t n_segs, cap = 0;
    int rc = prompt_parse_weights(text, &segs, &n_segs, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n_segs && rc == LOOM_OK; i++) {
        /* re.split(' embedding:|\nembedding:'), each later piece prefixed again */
        const char *s = segs[i].text;
        size_t len = strlen(s), start = 0, plen = strlen(EMBEDDING_PREFIX);
        for (size_t k = 0; k <= len && rc == LOOM_OK; k++) {
            int cut = k < len && (s[k] == ' ' || s[k] == '\n') && len - k - 1 >= plen &&
                      !memcmp(s + k + 1, EMBEDDING_PREFIX, plen);
            if (!cut && k < len)
                continue;
            if (k > start)
                rc = encode_word(tok, s + start, k - start, segs[i].weight, out, &cap, err);
            start = k + 1;
        }
    }
    prompt_segments_free(segs, n_segs);
    if (rc == LOOM_OK && push_token(out, &cap, tok_eos_id(tok), 1.0))
        rc = loom_errorf(err, LOOM_ERR_NOMEM, "prompt: out of memory");
    out->length = out->n;
    while (rc == LOOM_OK && out->n < min_length)
        if (push_token(out, &cap, tok_pad_id(tok), 1.0))
            rc = loom_errorf(err, LOOM_ERR_NOMEM, "prompt: out of memory");
    if (rc)
        prompt_tokens_free(out);
    return rc;
}

int prompt_tokenize_plain(const tok_model *tok, const char *text, size_t max_length, prompt_tokens *out,
                          loom_error *err)
{
    memset(out, 0, sizeof *out);
    tok_ids ids = {0};
    size_t cap = 0;
    int rc = tok_encode(tok, text, strlen(text), &ids, err);
    size_t keep = ids.n;
    if (max_length && keep > max_length - 1)
        keep = max_length - 1;
    for (size_t i = 0; rc == LOOM_OK && i < keep; i++)
        if (push_token(out, &cap, ids.ids[i], 1.0))
            rc = loom_errorf(err, LOOM_ERR_NOMEM, "prompt: out of memory");
    tok_ids_free(&ids);
    if (rc == LOOM_OK && push_token(out, &cap, tok_eos_id(tok), 1.0))
        rc = loom_errorf(err, LOOM_ERR_NOMEM, "prompt: out of memory");
    out->length = out->n;
    while (rc == LOOM_OK && out->n < max_length)
        if (push_token(out, &cap, tok_pad_id(tok), 1.0))
            rc = loom_errorf(err, LOOM_ERR_NOMEM, "prompt: out of memory");
    if (rc)
        prompt_tokens_free(out);
    return rc;
}

void prompt_tokens_free(prompt_tokens *t)
{
    free(t->ids);
    free(t->weights);
    memset(t, 0, sizeof *t);
}
