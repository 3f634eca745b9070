/* unicode_norm.c: NFC / NFD / NFKC / NFKD (UAX #15) over UTF-8.
 *
 * Three passes over a code-point array: decompose every character fully (generated tables,
 * canonical or compatibility; Hangul syllables by arithmetic), put each run of combining
 * marks in canonical order (a stable sort by combining class), and for the composed forms
 * recombine: a mark joins the last starter when a primary composite exists and no mark in
 * between has the same or a higher class (the sample algorithm of UAX #15). Tables are
 * Unicode 14, what Python 3.11 (ftfy's reference run) uses.
 */
#include <stdlib.h>
#include <string.h>

#include "unicode_norm.h"
#include "unicode_tables.h"

#define HANGUL_S 0xAC00u
#define HANGUL_L 0x1100u
#define HANGUL_V 0x1161u
#define HANGUL_T 0x11A7u
#define HANGUL_L_COUNT 19u
#define HANGUL_V_COUNT 21u
#define HANGUL_T_COUNT 28u
#define HANGUL_N_COUNT (HANGUL_V_COUNT * HANGUL_T_COUNT)
#define HANGUL_S_COUNT (HANGUL_L_COUNT * HANGUL_N_COUNT)

typedef struct cp_list {
    uint32_t *v;
    size_t    n, cap;
} cp_list;

static int cp_push(cp_list *l, uint32_t cp)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        uint32_t *p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return -1;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = cp;
    return 0;
}

static const uni_decomp *find_decomp(const uni_decomp *t, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t[mid].cp == cp)
            return &t[mid];
        if (t[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static uint32_t ccc_of(uint32_t cp)
{
    const uni_tables *u = &unicode_tables;
    size_t lo = 0, hi = u->n_ccc;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < u->ccc[mid].first)
            hi = mid;
        else if (cp > u->ccc[mid].last)
            lo = mid + 1;
        else
            return u->ccc[mid].ccc;
    }
    return 0;
}

/* The primary composite of (a, b), or 0. */
static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_L_COUNT && b >= HANGUL_V && b < HANGUL_V + HANGUL_V_COUNT)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_V_COUNT + (b - HANGUL_V)) * HANGUL_T_COUNT;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_S_COUNT && (a - HANGUL_S) % HANGUL_T_COUNT == 0 && b > HANGUL_T &&
        b < HANGUL_T + HANGUL_T_COUNT)
        return a + (b - HANGUL_T);
    const uni_tables *u = &unicode_tables;
    size_t lo = 0, hi = u->n_pairs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uni_pair *p = &u->pairs[mid];
        if (p->first == a && p->second == b)
            return p->composite;
        if (p->first < a || (p->first == a && p->second < b))
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int decompose(uint32_t cp, int compat, cp_list *out)
{
    const uni_tables *u = &unicode_tables;
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_S_COUNT) {
        uint32_t s = cp - HANGUL_S, t = s % HANGUL_T_COUNT;
        if (cp_push(out, HANGUL_L + s / HANGUL_N_COUNT) ||
            cp_push(out, HANGUL_V + (s % HANGUL_N_COUNT) / HANGUL_T_COUNT))
            return -1;
        return t ? cp_push(out, HANGUL_T + t) : 0;
    }
    const uni_decomp *d = compat ? find_decomp(u->nfkd, u->n_nfkd, cp) : NULL;
    const uint32_t *data = u->nfkd_data;
    if (!d) {
        d = find_decomp(u->nfd, u->n_nfd, cp);
        data = u->nfd_data;
    }
    if (!d)
        return cp_push(out, cp);
    for (uint32_t i = 0; i < d->len; i++)
        if (cp_push(out, data[d->offset + i]))
            return -1;
    return 0;
}

/* Stable insertion sort of each run of non-starters by combining class. */
static void canonical_order(cp_list *l)
{
    for (size_t i = 1; i < l->n; i++) {
        uint32_t c = l->v[i], cc = ccc_of(c);
        if (!cc)
            continue;
        size_t j = i;
        while (j > 0) {
            uint32_t pc = ccc_of(l->v[j - 1]);
            if (pc <= cc)
                break;
            l->v[j] = l->v[j - 1];
            j--;
        }
        l->v[j] = c;
    }
}

static void compose(cp_list *l)
{
    if (l->n == 0)
        return;
    size_t starter = 0, out = 1;
    uint32_t last_class = ccc_of(l->v[0]) ? 256 : 0;   /* a leading mark blocks everything */
    for (size_t i = 1; i < l->n; i++) {
        uint32_t c = l->v[i], cc = ccc_of(c);
        uint32_t comp = compose_pair(l->v[starter], c);
        if (comp && (last_class < cc || last_class == 0)) {
            l->v[starter] = comp;
            continue;
        }
        if (cc == 0)
            starter = out;
        last_class = cc;
        l->v[out++] = c;
    }
    l->n = out;
}

int uni_normalize(uni_form form, const char *s, size_t n, tok_buf *out)
{
    cp_list l = {0};
    int compat = form == UNI_NFKC || form == UNI_NFKD, rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        size_t len;
        uint32_t cp = tok_utf8_decode(s + i, n - i, &len);
        rc = decompose(cp, compat, &l);
        i += len;
    }
    if (!rc) {
        canonical_order(&l);
        if (form == UNI_NFC || form == UNI_NFKC)
            compose(&l);
        char tmp[4];
        for (size_t i = 0; i < l.n && !rc; i++)
            rc = tok_buf_put(out, tmp, tok_utf8_encode(l.v[i], tmp));
        rc = rc || tok_buf_put(out, "", 0);
    }
    free(l.v);
    return rc ? -1 : 0;
}
