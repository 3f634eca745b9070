/* safetensors.c: validating reader (mmap, zero-copy views) and atomic writer.
 *
 * The reader maps the whole file read-only, parses the JSON header with a small strict
 * parser written for exactly this grammar (objects, arrays, strings, non-negative
 * integers; anything else is skipped with a depth limit), and validates every tensor
 * entry before the handle is returned, so a handle never holds a bad entry. The mapping
 * is reference counted separately from the handle: the handle holds one reference and
 * every tensor view holds one, so views outlive loom_safetensors_close(). Names are found
 * through an open-addressing hash table (FNV-1a) built once at open time.
 *
 * The writer lays tensors back to back after a space-padded header that puts the data
 * block on a 64-byte boundary, writes to a temporary file in the target's directory,
 * fsyncs it, renames it over the target and fsyncs the directory, so a crash leaves
 * either the old file or the complete new one.
 */
#define _GNU_SOURCE
#include "loom/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the shared mapping ------------------------------------------------------------ */

typedef struct st_mapping {
    int    refcount;
    void  *base;
    size_t len;
    int    is_mmap;      /* 0: caller-owned memory (open_memory) */
} st_mapping;

static void mapping_unref(void *p)
{
    st_mapping *m = p;
    if (!m || __atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (m->is_mmap && m->base) munmap(m->base, m->len);
    free(m);
}

void loom_safetensors_drop_pages(const loom_tensor *view)
{
    if (!view || view->release != mapping_unref) return;
    const st_mapping *m = view->owner;
    if (!m->is_mmap) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)view->data + page - 1) / page * page;
    const uintptr_t hi = ((uintptr_t)view->data + loom_tensor_nbytes(view)) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);   /* a clean file mapping: nothing is lost */
}

typedef struct st_entry {
    char      *name;
    loom_dtype dtype;
    int        ndim;
    int64_t    shape[LOOM_MAX_DIMS];
    uint64_t   begin, end;      /* relative to the data block */
} st_entry;

struct loom_safetensors {
    char          *path;
    st_mapping    *map;
    const uint8_t *data;        /* start of the data block */
    uint64_t       data_len;
    st_entry      *entries;
    size_t         n, cap;
    size_t        *table;       /* hash slots: entry index + 1, 0 = empty */
    size_t         table_cap;   /* power of two */
    char         **meta_keys, **meta_values;
    size_t         n_meta, cap_meta;
};

/* ---- JSON scanning ----------------------------------------------------------------- */

typedef struct jcur {
    const char       *p, *end, *start;
    const char       *path;
    loom_error       *err;
    const char       *tensor;     /* entry being parsed, for messages */
} jcur;

static int jfail(jcur *c, const char *what)
{
    if (c->tensor)
        return loom_errorf(c->err, LOOM_ERR_INVALID,
                           "safetensors file '%s': tensor '%s': malformed header: %s at header byte %zu",
                           c->path, c->tensor, what, (size_t)(c->p - c->start));
    return loom_errorf(c->err, LOOM_ERR_INVALID,
                       "safetensors file '%s': malformed header: %s at header byte %zu",
                       c->path, what, (size_t)(c->p - c->start));
}

static void jws(jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int jexpect(jcur *c, char ch, const char *what)
{
    jws(c);
    if (c->p >= c->end || *c->p != ch) return jfail(c, what);
    c->p++;
    return 0;
}

/* Number of bytes of the UTF-8 sequence at s (max n), or 0 if invalid. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    if (b < 0x80) return 1;
    int len;
    uint32_t cp;
    if ((b & 0xe0) == 0xc0) { len = 2; cp = b & 0x1f; }
    else if ((b & 0xf0) == 0xe0) { len = 3; cp = b & 0x0f; }
    else if ((b & 0xf8) == 0xf0) { len = 4; cp = b & 0x07; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

static int utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        int l = utf8_seq(u + i, n - i);
        if (!l) return 0;
        i += (size_t)l;
    }
    return 1;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9') v |= (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') v |= (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') v |= (uint32_t)(ch - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Parse a JSON string; *out (malloc'd, NUL-terminated, valid UTF-8) unless out is NULL. */
static int jstring(jcur *c, char **out)
{
    jws(c);
    if (c->p >= c->end || *c->p != '"') return jfail(c, "expected a string");
    c->p++;
    size_t cap = 32, n = 0;
    char *buf = out ? malloc(cap) : NULL;
    if (out && !buf) return loom_errorf(c->err, LOOM_ERR_NOMEM, "safetensors file '%s': out of memory", c->path);
    int rc = 0;
    for (;;) {
        if (c->p >= c->end) { rc = jfail(c, "unterminated string"); break; }
        unsigned char ch = (unsigned char)*c->p;
        char enc[4];
        int enc_n = 0;
        if (ch == '"') { c->p++; break; }
        if (ch < 0x20) { rc = jfail(c, "control character inside a string"); break; }
        if (ch == '\\') {
            if (c->end - c->p < 2) { rc = jfail(c, "unterminated escape"); break; }
            char e = c->p[1];
            c->p += 2;
            switch (e) {
            case '"': enc[0] = '"'; enc_n = 1; break;
            case '\\': enc[0] = '\\'; enc_n = 1; break;
            case '/': enc[0] = '/'; enc_n = 1; break;
            case 'b': enc[0] = '\b'; enc_n = 1; break;
            case 'f': enc[0] = '\f'; enc_n = 1; break;
            case 'n': enc[0] = '\n'; enc_n = 1; break;
            case 'r': enc[0] = '\r'; enc_n = 1; break;
            case 't': enc[0] = '\t'; enc_n = 1; break;
            case 'u': {
                uint32_t cp;
                if (c->end - c->p < 4 || hex4(c->p, &cp)) { rc = jfail(c, "bad \\u escape"); goto done; }
                c->p += 4;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || hex4(c->p + 2, &lo) ||
                        lo < 0xdc00 || lo > 0xdfff) { rc = jfail(c, "unpaired UTF-16 surrogate"); goto done; }
                    c->p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    rc = jfail(c, "unpaired UTF-16 surrogate"); goto done;
                }
                if (cp == 0) { rc = jfail(c, "NUL character in a string"); goto done; }
                if (cp < 0x80) { enc[0] = (char)cp; enc_n = 1; }
                else if (cp < 0x800) { enc[0] = (char)(0xc0 | (cp >> 6)); enc[1] = (char)(0x80 | (cp & 0x3f)); enc_n = 2; }
                else if (cp < 0x10000) {
                    enc[0] = (char)(0xe0 | (cp >> 12)); enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    enc[2] = (char)(0x80 | (cp & 0x3f)); enc_n = 3;
                } else {
                    enc[0] = (char)(0xf0 | (cp >> 18)); enc[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
                    enc[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); enc[3] = (char)(0x80 | (cp & 0x3f)); enc_n = 4;
                }
                break;
            }
            default: rc = jfail(c, "unknown escape in a string"); goto done;
            }
        } else {
            int l = utf8_seq((const unsigned char *)c->p, (size_t)(c->end - c->p));
            if (!l) { rc = jfail(c, "invalid UTF-8 in a string"); break; }
            memcpy(enc, c->p, (size_t)l);
            enc_n = l;
            c->p += l;
        }
        if (n + (size_t)enc_n > LOOM_SAFETENSORS_MAX_NAME) { rc = jfail(c, "string longer than the 64 KiB limit"); break; }
        if (buf) {
            if (n + (size_t)enc_n + 1 > cap) {
                cap *= 2;
                char *nb = realloc(buf, cap);
                if (!nb) { rc = loom_errorf(c->err, LOOM_ERR_NOMEM, "safetensors file '%s': out of memory", c->path); break; }
                buf = nb;
            }
            memcpy(buf + n, enc, (size_t)enc_n);
        }
        n += (size_t)enc_n;
    }
done:
    if (rc) { free(buf); return rc; }
    if (buf) { buf[n] = 0; *out = buf; }
    return 0;
}

/* A non-negative JSON integer that fits in uint64. */
static int juint(jcur *c, uint64_t *out, const char *what)
{
    jws(c);
    const char *s = c->p;
    if (s >= c->end || *s < '0' || *s > '9') {
        char m[96];
        snprintf(m, sizeof m, "%s must be a non-negative integer", what);
        return jfail(c, m);
    }
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            char m[96];
            snprintf(m, sizeof m, "%s overflows 64 bits", what);
            return jfail(c, m);
        }
        v = v * 10 + d;
        c->p++;
    }
    if (c->p - s > 1 && *s == '0') return jfail(c, "number with a leading zero");
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E')) {
        char m[96];
        snprintf(m, sizeof m, "%s must be an integer", what);
        return jfail(c, m);
    }
    *out = v;
    return 0;
}

static int jskip(jcur *c, int depth)
{
    if (depth > LOOM_SAFETENSORS_MAX_DEPTH) return jfail(c, "nesting deeper than the limit of 64");
    jws(c);
    if (c->p >= c->end) return jfail(c, "unexpected end of header");
    char ch = *c->p;
    if (ch == '"') return jstring(c, NULL);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        jws(c);
        if (c->p < c->end && *c->p == close) { c->p++; return 0; }
        for (;;) {
            int rc;
            if (ch == '{') {
                if ((rc = jstring(c, NULL))) return rc;
                if ((rc = jexpect(c, ':', "expected ':'"))) return rc;
            }
            if ((rc = jskip(c, depth + 1))) return rc;
            jws(c);
            if (c->p < c->end && *c->p == ',') { c->p++; continue; }
            if (c->p < c->end && *c->p == close) { c->p++; return 0; }
            return jfail(c, "expected ',' or a closing bracket");
        }
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(words[i]);
        if ((size_t)(c->end - c->p) >= l && memcmp(c->p, words[i], l) == 0) { c->p += l; return 0; }
    }
    /* number: -?digits(.digits)?([eE][+-]?digits)? */
    const char *s = c->p;
    if (c->p < c->end && *c->p == '-') c->p++;
    const char *d0 = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    if (c->p == d0) { c->p = s; return jfail(c, "unexpected character"); }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        const char *f0 = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
        if (c->p == f0) return jfail(c, "bad number");
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        const char *e0 = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
        if (c->p == e0) return jfail(c, "bad number");
    }
    return 0;
}

/* ---- handle construction ----------------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    return h;
}

static long st_find(const loom_safetensors *st, const char *name)
{
    if (!st->table_cap || !name) return -1;
    size_t mask = st->table_cap - 1;
    for (size_t i = fnv1a(name) & mask;; i = (i + 1) & mask) {
        size_t v = st->table[i];
        if (!v) return -1;
        if (strcmp(st->entries[v - 1].name, name) == 0) return (long)(v - 1);
    }
}

static int st_build_table(loom_safetensors *st, loom_error *err)
{
    size_t cap = 16;
    while (cap < st->n * 2 + 1) cap *= 2;
    st->table = calloc(cap, sizeof *st->table);
    if (!st->table) return loom_errorf(err, LOOM_ERR_NOMEM, "safetensors file '%s': out of memory", st->path);
    st->table_cap = cap;
    for (size_t k = 0; k < st->n; k++) {
        size_t i = fnv1a(st->entries[k].name) & (cap - 1);
        while (st->table[i]) {
            if (strcmp(st->entries[st->table[i] - 1].name, st->entries[k].name) == 0)
                return loom_errorf(err, LOOM_ERR_INVALID, "safetensors file '%s': tensor '%s' appears twice in the header",
                                   st->path, st->entries[k].name);
            i = (i + 1) & (cap - 1);
        }
        st->table[i] = k + 1;
    }
    return 0;
}

static void st_free(loom_safetensors *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) free(st->entries[i].name);
    for (size_t i = 0; i < st->n_meta; i++) { free(st->meta_keys[i]); free(st->meta_values[i]); }
    free(st->entries);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->table);
    free(st->path);
    if (st->map) mapping_unref(st->map);
    free(st);
}

static int parse_metadata(jcur *c, loom_safetensors *st)
{
    int rc;
    if ((rc = jexpect(c, '{', "__metadata__ must be an object of strings"))) return rc;
    jws(c);
    if (c->p < c->end && *c->p == '}') { c->p++; return 0; }
    for (;;) {
        char *k = NULL, *v = NULL;
        if ((rc = jstring(c, &k))) return rc;
        if ((rc = jexpect(c, ':', "expected ':'"))) { free(k); return rc; }
        jws(c);
        if (c->p >= c->end || *c->p != '"') {
            rc = loom_errorf(c->err, LOOM_ERR_INVALID,
                             "safetensors file '%s': __metadata__ entry '%s' is not a string", c->path, k);
            free(k);
            return rc;
        }
        if ((rc = jstring(c, &v))) { free(k); return rc; }
        if (st->n_meta == st->cap_meta) {
            size_t nc = st->cap_meta ? st->cap_meta * 2 : 8;
            char **nk = realloc(st->meta_keys, nc * sizeof *nk);
            if (nk) st->meta_keys = nk;
            char **nv = nk ? realloc(st->meta_values, nc * sizeof *nv) : NULL;
            if (nv) st->meta_values = nv;
            if (!nk || !nv) { free(k); free(v); return loom_errorf(c->err, LOOM_ERR_NOMEM, "safetensors file '%s': out of memory", c->path); }
            st->cap_meta = nc;
        }
        st->meta_keys[st->n_meta] = k;
        st->meta_values[st->n_meta++] = v;
        jws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        return jexpect(c, '}', "expected ',' or '}' in __metadata__");
    }
}

#define TFAIL(...) loom_errorf(c->err, LOOM_ERR_INVALID, __VA_ARGS__)

static int parse_entry(jcur *c, st_entry *e)
{
    int rc;
    int have_dtype = 0, have_shape = 0, have_off = 0;
    if ((rc = jexpect(c, '{', "a tensor entry must be an object"))) return rc;
    jws(c);
    if (c->p < c->end && *c->p == '}') { c->p++; goto check; }
    for (;;) {
        char *key = NULL;
        if ((rc = jstring(c, &key))) return rc;
        if ((rc = jexpect(c, ':', "expected ':'"))) { free(key); return rc; }
        if (strcmp(key, "dtype") == 0) {
            char *dt = NULL;
            if (have_dtype++) { free(key); return TFAIL("safetensors file '%s': tensor '%s': \"dtype\" given twice", c->path, e->name); }
            if ((rc = jstring(c, &dt))) { free(key); return rc; }
            if (loom_dtype_from_name(dt, &e->dtype)) {
                rc = loom_errorf(c->err, LOOM_ERR_UNSUPPORTED,
                                 "safetensors file '%s': tensor '%s': unknown or unsupported dtype \"%.64s\"",
                                 c->path, e->name, dt);
                free(dt); free(key);
                return rc;
            }
            free(dt);
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++) { free(key); return TFAIL("safetensors file '%s': tensor '%s': \"shape\" given twice", c->path, e->name); }
            if ((rc = jexpect(c, '[', "shape must be an array"))) { free(key); return rc; }
            e->ndim = 0;
            jws(c);
            if (c->p < c->end && *c->p == ']') c->p++;
            else for (;;) {
                uint64_t d;
                if ((rc = juint(c, &d, "a shape entry"))) { free(key); return rc; }
                if (e->ndim == LOOM_MAX_DIMS) {
                    free(key);
                    return TFAIL("safetensors file '%s': tensor '%s': rank above the limit of %d dimensions",
                                 c->path, e->name, LOOM_MAX_DIMS);
                }
                if (d > (uint64_t)INT64_MAX) { free(key); return TFAIL("safetensors file '%s': tensor '%s': dimension too large", c->path, e->name); }
                e->shape[e->ndim++] = (int64_t)d;
                jws(c);
                if (c->p < c->end && *c->p == ',') { c->p++; continue; }
                if ((rc = jexpect(c, ']', "expected ',' or ']' in shape"))) { free(key); return rc; }
                break;
            }
        } else if (strcmp(key, "data_offsets") == 0) {
            if (have_off++) { free(key); return TFAIL("safetensors file '%s': tensor '%s': \"data_offsets\" given twice", c->path, e->name); }
            if ((rc = jexpect(c, '[', "data_offsets must be an array of two integers")) ||
                (rc = juint(c, &e->begin, "data_offsets[0]")) ||
                (rc = jexpect(c, ',', "data_offsets must have two entries")) ||
                (rc = juint(c, &e->end, "data_offsets[1]")) ||
                (rc = jexpect(c, ']', "data_offsets must have exactly two entries"))) { free(key); return rc; }
        } else if ((rc = jskip(c, 2))) {
            free(key);
            return rc;
        }
        free(key);
        jws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if ((rc = jexpect(c, '}', "expected ',' or '}' in a tensor entry"))) return rc;
        break;
    }
check:
    if (!have_dtype || !have_shape || !have_off)
        return TFAIL("safetensors file '%s': tensor '%s': entry lacks \"%s\"", c->path, e->name,
                     !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return 0;
}

static int cmp_begin(const void *a, const void *b, void *ctx)
{
    const st_entry *e = ctx;
    const st_entry *x = &e[*(const size_t *)a], *y = &e[*(const size_t *)b];
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

static int validate_entries(loom_safetensors *st, loom_error *err)
{
    for (size_t i = 0; i < st->n; i++) {
        st_entry *e = &st->entries[i];
        if (e->end < e->begin)
            return loom_errorf(err, LOOM_ERR_INVALID,
                               "safetensors file '%s': tensor '%s': data_offsets [%llu, %llu] end before they begin",
                               st->path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        if (e->end > st->data_len)
            return loom_errorf(err, LOOM_ERR_INVALID,
                               "safetensors file '%s': tensor '%s': data_offsets [%llu, %llu] run past the data block "
                               "(%llu bytes; the file is truncated or the header is wrong)",
                               st->path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                               (unsigned long long)st->data_len);
        uint64_t n = loom_dtype_size(e->dtype);
        int overflow = 0;
        for (int d = 0; d < e->ndim; d++) {
            uint64_t s = (uint64_t)e->shape[d];
            if (s && n > UINT64_MAX / s) overflow = 1;
            else n *= s;
        }
        if (overflow)
            return loom_errorf(err, LOOM_ERR_INVALID,
                               "safetensors file '%s': tensor '%s': shape and dtype %s need more than 2^64 bytes",
                               st->path, e->name, loom_dtype_name(e->dtype));
        if (n != e->end - e->begin)
            return loom_errorf(err, LOOM_ERR_INVALID,
                               "safetensors file '%s': tensor '%s': shape and dtype %s need %llu bytes but "
                               "data_offsets [%llu, %llu] span %llu",
                               st->path, e->name, loom_dtype_name(e->dtype), (unsigned long long)n,
                               (unsigned long long)e->begin, (unsigned long long)e->end,
                               (unsigned long long)(e->end - e->begin));
    }
    /* No two non-empty tensors may share bytes. */
    size_t *order = malloc((st->n ? st->n : 1) * sizeof *order);
    if (!order) return loom_errorf(err, LOOM_ERR_NOMEM, "safetensors file '%s': out of memory", st->path);
    size_t m = 0;
    for (size_t i = 0; i < st->n; i++)
        if (st->entries[i].end > st->entries[i].begin) order[m++] = i;
    qsort_r(order, m, sizeof *order, cmp_begin, st->entries);
    int rc = 0;
    for (size_t i = 1; i < m; i++) {
        const st_entry *a = &st->entries[order[i - 1]], *b = &st->entries[order[i]];
        if (b->begin < a->end) {
            rc = loom_errorf(err, LOOM_ERR_INVALID,
                             "safetensors file '%s': tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                             st->path, a->name, (unsigned long long)a->begin, (unsigned long long)a->end,
                             b->name, (unsigned long long)b->begin, (unsigned long long)b->end);
            break;
        }
    }
    free(order);
    return rc;
}

static int st_parse(loom_safetensors *st, loom_error *err)
{
    const uint8_t *base = st->map->base;
    size_t size = st->map->len;
    if (size < 8)
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "safetensors file '%s': %zu bytes is too short to hold the 8-byte header length "
                           "(not a safetensors file, or truncated)", st->path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > LOOM_SAFETENSORS_MAX_HEADER)
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "safetensors file '%s': header length %llu exceeds the limit of %u bytes "
                           "(not a safetensors file, or corrupt)", st->path, (unsigned long long)hlen,
                           LOOM_SAFETENSORS_MAX_HEADER);
    if (hlen > size - 8)
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "safetensors file '%s': header length %llu runs past the end of the file (%zu bytes; "
                           "truncated?)", st->path, (unsigned long long)hlen, size);
    if (hlen < 2)
        return loom_errorf(err, LOOM_ERR_INVALID, "safetensors file '%s': header of %llu bytes cannot hold a JSON object",
                           st->path, (unsigned long long)hlen);
    st->data = base + 8 + hlen;
    st->data_len = size - 8 - hlen;

    jcur c = {(const char *)base + 8, (const char *)base + 8 + hlen, (const char *)base + 8, st->path, err, NULL};
    int rc, seen_meta = 0;
    if ((rc = jexpect(&c, '{', "the header must be a JSON object"))) return rc;
    jws(&c);
    if (c.p < c.end && *c.p == '}') c.p++;
    else for (;;) {
        char *name = NULL;
        if ((rc = jstring(&c, &name))) return rc;
        if ((rc = jexpect(&c, ':', "expected ':'"))) { free(name); return rc; }
        if (strcmp(name, "__metadata__") == 0) {
            free(name);
            if (seen_meta++) return jfail(&c, "__metadata__ given twice");
            if ((rc = parse_metadata(&c, st))) return rc;
        } else {
            if (name[0] == 0) { free(name); return jfail(&c, "empty tensor name"); }
            if (st->n == st->cap) {
                size_t nc = st->cap ? st->cap * 2 : 64;
                st_entry *ne = realloc(st->entries, nc * sizeof *ne);
                if (!ne) { free(name); return loom_errorf(err, LOOM_ERR_NOMEM, "safetensors file '%s': out of memory", st->path); }
                st->entries = ne;
                st->cap = nc;
            }
            st_entry *e = &st->entries[st->n++];
            memset(e, 0, sizeof *e);
            e->name = name;
            c.tensor = name;
            if ((rc = parse_entry(&c, e))) return rc;
            c.tensor = NULL;
        }
        jws(&c);
        if (c.p < c.end && *c.p == ',') { c.p++; continue; }
        if ((rc = jexpect(&c, '}', "expected ',' or '}' after a tensor entry"))) return rc;
        break;
    }
    jws(&c);
    if (c.p != c.end) return jfail(&c, "trailing bytes after the JSON object");
    if ((rc = st_build_table(st, err))) return rc;
    return validate_entries(st, err);
}

static int st_finish_open(loom_safetensors *st, loom_safetensors **out, loom_error *err)
{
    int rc = st_parse(st, err);
    if (rc) { st_free(st); return rc; }
    *out = st;
    return 0;
}

int loom_safetensors_open_memory(const void *data, size_t size, const char *label,
                                 loom_safetensors **out, loom_error *err)
{
    *out = NULL;
    loom_safetensors *st = calloc(1, sizeof *st);
    st_mapping *m = calloc(1, sizeof *m);
    char *p = strdup(label ? label : "<memory>");
    if (!st || !m || !p) {
        free(st); free(m); free(p);
        return loom_errorf(err, LOOM_ERR_NOMEM, "safetensors: out of memory");
    }
    m->refcount = 1;
    m->base = (void *)data;
    m->len = size;
    st->map = m;
    st->path = p;
    return st_finish_open(st, out, err);
}

int loom_safetensors_open(const char *path, loom_safetensors **out, loom_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return loom_errorf(err, errno == ENOENT ? LOOM_ERR_NOT_FOUND : LOOM_ERR_IO,
                           "safetensors file '%s': cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        return loom_errorf(err, LOOM_ERR_IO, "safetensors file '%s': not a regular file%s%s", path,
                           e ? ": " : "", e ? strerror(e) : "");
    }
    loom_safetensors *st = calloc(1, sizeof *st);
    st_mapping *m = calloc(1, sizeof *m);
    char *p = strdup(path);
    if (!st || !m || !p) {
        close(fd);
        free(st); free(m); free(p);
        return loom_errorf(err, LOOM_ERR_NOMEM, "safetensors file '%s': out of memory", path);
    }
    m->refcount = 1;
    m->len = (size_t)sb.st_size;
    st->map = m;
    st->path = p;
    if (m->len > 0) {
        void *base = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (base == MAP_FAILED) {
            int e = errno;
            close(fd);
            st_free(st);
            return loom_errorf(err, LOOM_ERR_IO, "safetensors file '%s': cannot map %zu bytes: %s", path,
                               (size_t)sb.st_size, strerror(e));
        }
        m->base = base;
        m->is_mmap = 1;
    }
    close(fd);
    return st_finish_open(st, out, err);
}

void loom_safetensors_close(loom_safetensors *st) { st_free(st); }

size_t loom_safetensors_count(const loom_safetensors *st) { return st ? st->n : 0; }

const char *loom_safetensors_name(const loom_safetensors *st, size_t i)
{
    return st && i < st->n ? st->entries[i].name : NULL;
}

const char *loom_safetensors_path(const loom_safetensors *st) { return st ? st->path : NULL; }

loom_tensor *loom_safetensors_get(loom_safetensors *st, const char *name)
{
    long i = st ? st_find(st, name) : -1;
    if (i < 0) return NULL;
    const st_entry *e = &st->entries[i];
    __atomic_add_fetch(&st->map->refcount, 1, __ATOMIC_RELAXED);
    loom_tensor *t = loom_tensor_wrap(e->dtype, e->ndim, e->shape, (void *)(st->data + e->begin),
                                      mapping_unref, st->map, NULL);
    if (!t) mapping_unref(st->map);
    return t;
}

loom_tensor *loom_safetensors_require(loom_safetensors *st, const char *name, loom_error *err)
{
    if (st && st_find(st, name) < 0) {
        loom_errorf(err, LOOM_ERR_NOT_FOUND, "safetensors file '%s': no tensor named '%s'", st->path, name);
        return NULL;
    }
    loom_tensor *t = loom_safetensors_get(st, name);
    if (!t) loom_errorf(err, LOOM_ERR_NOMEM, "safetensors file '%s': out of memory for tensor '%s'",
                        st ? st->path : "?", name);
    return t;
}

int loom_safetensors_info(const loom_safetensors *st, const char *name, loom_dtype *dtype,
                          int *ndim, int64_t shape[LOOM_MAX_DIMS])
{
    long i = st ? st_find(st, name) : -1;
    if (i < 0) return LOOM_ERR_NOT_FOUND;
    const st_entry *e = &st->entries[i];
    if (dtype) *dtype = e->dtype;
    if (ndim) *ndim = e->ndim;
    if (shape) memcpy(shape, e->shape, sizeof e->shape);
    return 0;
}

const char *loom_safetensors_metadata(const loom_safetensors *st, const char *key)
{
    if (!st || !key) return NULL;
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

size_t loom_safetensors_metadata_count(const loom_safetensors *st) { return st ? st->n_meta : 0; }

const char *loom_safetensors_metadata_at(const loom_safetensors *st, size_t i, const char **value)
{
    if (!st || i >= st->n_meta) return NULL;
    if (value) *value = st->meta_values[i];
    return st->meta_keys[i];
}

/* ---- writer ------------------------------------------------------------------------- */

typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (b->n + n + 1 > nc) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"') sb_put(b, "\\\"", 2);
        else if (ch == '\\') sb_put(b, "\\\\", 2);
        else if (ch < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", ch);
            sb_put(b, e, 6);
        } else sb_put(b, s, 1);
    }
    sb_put(b, "\"", 1);
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int loom_safetensors_write(const char *path, size_t n, const char *const *names,
                           loom_tensor *const *tensors, const char *const *meta, loom_error *err)
{
    /* Validate the request before touching the file system. */
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !names[i][0] || !tensors[i])
            return loom_errorf(err, LOOM_ERR_INVALID, "writing safetensors file '%s': entry %zu has no name or no tensor",
                               path, i);
        if (strcmp(names[i], "__metadata__") == 0 || !utf8_valid(names[i]))
            return loom_errorf(err, LOOM_ERR_INVALID, "writing safetensors file '%s': tensor name '%s' is reserved or "
                               "not valid UTF-8", path, names[i]);
        if ((unsigned)tensors[i]->dtype >= LOOM_DTYPE_COUNT)
            return loom_errorf(err, LOOM_ERR_INVALID, "writing safetensors file '%s': tensor '%s' has an invalid dtype",
                               path, names[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return loom_errorf(err, LOOM_ERR_INVALID, "writing safetensors file '%s': tensor name '%s' given twice",
                                   path, names[i]);
    }
    size_t n_meta = 0;
    if (meta) {
        while (meta[n_meta]) {
            if (!meta[n_meta + 1])
                return loom_errorf(err, LOOM_ERR_INVALID, "writing safetensors file '%s': metadata key '%s' has no value",
                                   path, meta[n_meta]);
            if (!utf8_valid(meta[n_meta]) || !utf8_valid(meta[n_meta + 1]))
                return loom_errorf(err, LOOM_ERR_INVALID, "writing safetensors file '%s': metadata '%s' is not valid UTF-8",
                                   path, meta[n_meta]);
            n_meta += 2;
        }
    }

    sbuf h = {0};
    sb_str(&h, "{");
    int first = 1;
    if (n_meta) {
        sb_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < n_meta; i += 2) {
            if (i) sb_str(&h, ",");
            sb_json_string(&h, meta[i]);
            sb_str(&h, ":");
            sb_json_string(&h, meta[i + 1]);
        }
        sb_str(&h, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const loom_tensor *t = tensors[i];
        char tmp[64];
        if (!first) sb_str(&h, ",");
        first = 0;
        sb_json_string(&h, names[i]);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, loom_dtype_name(t->dtype));
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(tmp, sizeof tmp, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            sb_str(&h, tmp);
        }
        uint64_t nb = loom_tensor_nbytes(t);
        snprintf(tmp, sizeof tmp, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + nb));
        sb_str(&h, tmp);
        off += nb;
    }
    sb_str(&h, "}");
    while (!h.oom && (8 + h.n) % LOOM_TENSOR_ALIGN != 0) sb_str(&h, " ");
    if (h.oom) {
        free(h.p);
        return loom_errorf(err, LOOM_ERR_NOMEM, "writing safetensors file '%s': out of memory", path);
    }

    /* Temp file beside the target, so rename stays within one file system. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) { free(h.p); return loom_errorf(err, LOOM_ERR_NOMEM, "writing safetensors file '%s': out of memory", path); }
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        free(h.p);
        return loom_errorf(err, LOOM_ERR_IO, "writing safetensors file '%s': cannot create a temporary file: %s",
                           path, strerror(e));
    }
    uint8_t len8[8];
    uint64_t hl = h.n;
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(hl >> (8 * i));
    int rc = 0;
    const char *stage = "write";
    if (write_all(fd, len8, 8) || write_all(fd, h.p, h.n)) rc = -1;
    for (size_t i = 0; i < n && !rc; i++)
        if (write_all(fd, tensors[i]->data, loom_tensor_nbytes(tensors[i]))) rc = -1;
    if (!rc && fsync(fd) != 0) { rc = -1; stage = "fsync"; }
    int e = errno;
    if (close(fd) != 0 && !rc) { rc = -1; stage = "close"; e = errno; }
    if (!rc && rename(tmp, path) != 0) { rc = -1; stage = "rename"; e = errno; }
    free(h.p);
    if (rc) {
        unlink(tmp);
        free(tmp);
        return loom_errorf(err, LOOM_ERR_IO, "writing safetensors file '%s': %s failed: %s", path, stage, strerror(e));
    }
    free(tmp);
    /* Make the rename durable. */
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = ".";
        if (slash) { *slash = 0; d = slash == dir ? "/" : dir; }
        int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { fsync(dfd); close(dfd); }
        free(dir);
    }
    return 0;
}
