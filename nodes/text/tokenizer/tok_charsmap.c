/* tok_charsmap.c: SentencePiece's precompiled normalisation map ("charsmap"), read the
 * two ways the reference implementations read it (spec wan.md Appendix A.1).
 *
 * The blob is `u32 LE trie_bytes | Darts-clone double array (trie_bytes / 4 units) |
 * pool of NUL-terminated replacement strings`; a key is a UTF-8 byte sequence and its
 * value a byte offset into the pool. Both readers run the same common-prefix search; they
 * differ in which match wins: HF `Precompiled` takes the FIRST (shortest) match of each
 * grapheme cluster, native sentencepiece the LONGEST of at most 32 matches anywhere.
 * Invariants checked once at load: the array fits in the blob and the pool ends in NUL, so
 * a lookup can only fail safely (an out-of-range unit or offset ends the search).
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* sentencepiece keeps at most this many common-prefix results (kMaxTrieResultsSize). */
#define CHARSMAP_MAX_RESULTS 32

static uint32_t unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t unit_value(uint32_t u) { return u & 0x7FFFFFFFu; }
static uint32_t unit_label(uint32_t u) { return u & 0x800000FFu; }
static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & 0x200u) >> 6); }

int tok_charsmap_init(tok_charsmap *cm, const uint8_t *blob, size_t len, const char *label,
                      loom_error *err)
{
    memset(cm, 0, sizeof *cm);
    if (len == 0)
        return LOOM_OK;
    if (len < 4)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: precompiled charsmap is %zu bytes, too short "
                           "for its header", label, len);
    uint32_t trie_bytes = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                          (uint32_t)blob[3] << 24;
    if (trie_bytes % 4 || trie_bytes == 0 || trie_bytes > len - 4)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: precompiled charsmap declares a %u-byte trie "
                           "in a %zu-byte blob", label, trie_bytes, len);
    size_t pool_len = len - 4 - trie_bytes;
    if (pool_len && blob[len - 1] != 0)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: precompiled charsmap string pool is not "
                           "NUL-terminated", label);
    cm->blob = malloc(pool_len + 1);
    cm->unit_store = malloc(trie_bytes);
    if (!cm->blob || !cm->unit_store) {
        tok_charsmap_free(cm);
        return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory for the charsmap", label);
    }
    cm->n_units = trie_bytes / 4;
    for (size_t i = 0; i < cm->n_units; i++) {
        const uint8_t *p = blob + 4 + 4 * i;
        cm->unit_store[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[3] << 24;
    }
    cm->units = cm->unit_store;
    memcpy(cm->blob, blob + 4 + trie_bytes, pool_len);
    cm->blob[pool_len] = 0;
    cm->pool = (const char *)cm->blob;
    cm->pool_len = pool_len;
    return LOOM_OK;
}

void tok_charsmap_free(tok_charsmap *cm)
{
    free(cm->blob);
    free(cm->unit_store);
    memset(cm, 0, sizeof *cm);
}

/* Darts-clone common-prefix search: fills values/lengths of keys that prefix s[0..n),
 * shortest first; returns how many (at most cap). */
static size_t prefix_search(const tok_charsmap *cm, const char *s, size_t n, uint32_t *values,
                            size_t *lengths, size_t cap)
{
    if (!cm->n_units)
        return 0;
    size_t found = 0;
    uint64_t pos = unit_offset(cm->units[0]);
    for (size_t i = 0; i < n && found < cap; i++) {
        uint32_t byte = (unsigned char)s[i];
        pos ^= byte;
        if (pos >= cm->n_units)
            break;
        uint32_t u = cm->units[pos];
        if (unit_label(u) != byte)
            break;
        pos ^= unit_offset(u);
        if (unit_has_leaf(u)) {
            if (pos >= cm->n_units)
                break;
            uint32_t v = unit_value(cm->units[pos]);
            if (v < cm->pool_len) {
                values[found] = v;
                lengths[found] = i + 1;
                found++;
            }
        }
    }
    return found;
}

size_t tok_charsmap_prefix(const tok_charsmap *cm, const char *s, size_t n, const char **rep,
                           size_t *rep_len)
{
    uint32_t values[CHARSMAP_MAX_RESULTS];
    size_t lengths[CHARSMAP_MAX_RESULTS];
    size_t found = prefix_search(cm, s, n, values, lengths, CHARSMAP_MAX_RESULTS);
    size_t best = 0;
    for (size_t k = 1; k < found; k++)
        if (lengths[k] > lengths[best])
            best = k;
    if (found) {
        *rep = cm->pool + values[best];
        *rep_len = strlen(*rep);
        return lengths[best];
    }
    size_t len;
    tok_utf8_decode(s, n, &len);
    *rep = s;
    *rep_len = len;
    return len;
}

/* HF transform(chunk): the replacement of the first (shortest) key prefixing chunk. */
static const char *hf_transform(const tok_charsmap *cm, const char *s, size_t n)
{
    uint32_t value;
    size_t length;
    return prefix_search(cm, s, n, &value, &length, 1) ? cm->pool + value : NULL;
}

int tok_charsmap_normalize_hf(const tok_charsmap *cm, const char *s, size_t n, tok_buf *out)
{
    size_t i = 0;
    while (i < n) {
        size_t g = tok_grapheme_len(s + i, n - i);
        const char *rep = g < 6 ? hf_transform(cm, s + i, g) : NULL;
        if (rep) {
            if (tok_buf_put(out, rep, strlen(rep)))
                return -1;
        } else {
            for (size_t j = i; j < i + g;) {
                size_t len;
                tok_utf8_decode(s + j, i + g - j, &len);
                const char *r = hf_transform(cm, s + j, len);
                if (tok_buf_put(out, r ? r : s + j, r ? strlen(r) : len))
                    return -1;
                j += len;
            }
        }
        i += g;
    }
    return tok_buf_put(out, "", 0);
}
