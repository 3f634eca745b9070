/* tok_text.c: the byte buffer, id list, UTF-8 and whitespace helpers the tokenizer is built on.
 *
 * Text reaching the tokenizer is treated as untrusted bytes: decoding never reads past n,
 * and an invalid sequence counts as one byte decoding to U+FFFD, as Python's
 * errors="replace" and sentencepiece's normaliser both do. Grapheme clusters follow the
 * extended rules of UAX #29 that matter for prompts: CR LF, controls alone, marks / ZWNJ /
 * ZWJ / emoji modifiers extending, Hangul L V T sequences, emoji ZWJ sequences and flag
 * pairs, with classes from the generated tables (Prepend and the Indic conjunct rule are
 * not modelled; Extended_Pictographic is approximated by the emoji blocks).
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "unicode_tables.h"

int tok_buf_put(tok_buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

void tok_buf_free(tok_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int tok_ids_push(tok_ids *v, int32_t id)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->ids, cap * sizeof *p);
        if (!p)
            return -1;
        v->ids = p;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 0;
}

void tok_ids_free(tok_ids *v)
{
    free(v->ids);
    memset(v, 0, sizeof *v);
}

uint32_t tok_utf8_decode(const char *str, size_t n, size_t *len)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    size_t need;
    uint32_t cp, min;
    if (c < 0x80) {
        *len = 1;
        return c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 1, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, cp = c & 0x07, min = 0x10000;
    } else {
        *len = 1;
        return 0xFFFD;
    }
    if (n < need + 1) {
        *len = 1;
        return 0xFFFD;
    }
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *len = 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *len = 1;
        return 0xFFFD;
    }
    *len = need + 1;
    return cp;
}

size_t tok_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int tok_utf8_sanitize(const char *s, size_t n, tok_buf *out)
{
    size_t i = 0;
    while (i < n) {
        size_t len, run = i;
        /* copy valid runs in one go */
        while (run < n && tok_utf8_decode(s + run, n - run, &len) != 0xFFFD)
            run += len;
        if (run > i && tok_buf_put(out, s + i, run - i))
            return -1;
        i = run;
        if (i < n) {
            uint32_t cp = tok_utf8_decode(s + i, n - i, &len);
            (void)cp;   /* U+FFFD: either written as such in the input or an invalid byte */
            if (tok_buf_put(out, "\xEF\xBF\xBD", 3))
                return -1;
            i += len;
        }
    }
    return tok_buf_put(out, "", 0);
}

static uint32_t gcb_class(uint32_t cp)
{
    const uni_tables *u = &unicode_tables;
    size_t lo = 0, hi = u->n_gcb;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < u->gcb[mid].first)
            hi = mid;
        else if (cp > u->gcb[mid].last)
            lo = mid + 1;
        else
            return u->gcb[mid].cls;
    }
    return 0;
}

/* Extended_Pictographic, approximately: the emoji blocks and the older symbols used as emoji. */
static int is_pictographic(uint32_t cp)
{
    return (cp >= 0x1F000 && cp <= 0x1FAFF) || (cp >= 0x2600 && cp <= 0x27BF) || (cp >= 0x2190 && cp <= 0x21FF) ||
           (cp >= 0x2300 && cp <= 0x23FF) || (cp >= 0x2B00 && cp <= 0x2BFF) || cp == 0x00A9 || cp == 0x00AE ||
           cp == 0x203C || cp == 0x2049 || cp == 0x2122 || cp == 0x2139 || cp == 0x3030 || cp == 0x303D ||
           cp == 0x3297 || cp == 0x3299;
}

static int is_regional_indicator(uint32_t cp) { return cp >= 0x1F1E6 && cp <= 0x1F1FF; }

/* Hangul jamo / syllable classes for the L V T rules: 1 L, 2 V, 3 T, 4 LV, 5 LVT, 0 other. */
static int hangul_class(uint32_t cp)
{
    if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0xA960 && cp <= 0xA97C))
        return 1;
    if ((cp >= 0x1160 && cp <= 0x11A7) || (cp >= 0xD7B0 && cp <= 0xD7C6))
        return 2;
    if ((cp >= 0x11A8 && cp <= 0x11FF) || (cp >= 0xD7CB && cp <= 0xD7FB))
        return 3;
    if (cp >= 0xAC00 && cp <= 0xD7A3)
        return (cp - 0xAC00) % 28 == 0 ? 4 : 5;
    return 0;
}

/* Whether the Hangul rules GB6-GB8 keep b in the cluster after a. */
static int hangul_joins(int a, int b)
{
    return (a == 1 && b != 3 && b) || ((a == 2 || a == 4) && (b == 2 || b == 3)) || ((a == 3 || a == 5) && b == 3);
}

size_t tok_grapheme_len(const char *s, size_t n)
{
    size_t len;
    uint32_t prev = tok_utf8_decode(s, n, &len);
    size_t i = len;
    if (prev == '\r' && i < n && s[i] == '\n')
        return i + 1;
    if (prev == '\r' || prev == '\n' || gcb_class(prev) == UNI_GCB_CONTROL)
        return i;                                    /* GB4: break after controls */
    int pictographic = is_pictographic(prev);
    while (i < n) {
        size_t l2;
        uint32_t cp = tok_utf8_decode(s + i, n - i, &l2);
        uint32_t cls = gcb_class(cp);
        int join = cls == UNI_GCB_EXTEND || cp == 0x200D ||                    /* GB9, GB9a */
                   hangul_joins(hangul_class(prev), hangul_class(cp)) ||       /* GB6-GB8 */
                   (prev == 0x200D && pictographic && is_pictographic(cp)) ||  /* GB11 */
                   (i == len && is_regional_indicator(prev) && is_regional_indicator(cp)); /* GB12 */
        if (!join || cls == UNI_GCB_CONTROL)
            break;
        prev = cp;
        i += l2;
    }
    return i;
}

int tok_is_space(uint32_t c, int python)
{
    if (python && c >= 0x1C && c <= 0x1F)
        return 1;
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

size_t tok_space_at(const char *s, size_t n, int python)
{
    size_t len;
    return n && tok_is_space(tok_utf8_decode(s, n, &len), python) ? len : 0;
}

size_t tok_space_before(const char *s, size_t n, int python)
{
    size_t start = n, len;
    while (start > 0 && n - start < 4) {
        start--;
        if (((unsigned char)s[start] & 0xC0) != 0x80)
            break;
    }
    if (n == 0 || !tok_is_space(tok_utf8_decode(s + start, n - start, &len), python) || start + len != n)
        return 0;
    return len;
}
