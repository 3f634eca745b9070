/* unicode_tables.h: the shape of the generated Unicode data (unicode_tables.c) behind
 * unicode_norm.c and the grapheme clusters of tok_text.c. */
#ifndef LOOM_TEXT_UNICODE_TABLES_H
#define LOOM_TEXT_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct uni_decomp {
    uint32_t cp, offset, len;     /* its decomposition is data[offset .. offset + len) */
} uni_decomp;

typedef struct uni_ccc_range {
    uint32_t first, last, ccc;
} uni_ccc_range;

typedef struct uni_pair {
    uint32_t first, second, composite;
} uni_pair;

/* Grapheme-break class of a range: extends the cluster before it, or a control. */
enum { UNI_GCB_EXTEND = 1, UNI_GCB_CONTROL = 2 };

typedef struct uni_gcb_range {
    uint32_t first, last, cls;
} uni_gcb_range;

typedef struct uni_tables {
    const uni_decomp    *nfd;  size_t n_nfd;  const uint32_t *nfd_data;
    const uni_decomp    *nfkd; size_t n_nfkd; const uint32_t *nfkd_data;
    const uni_ccc_range *ccc;  size_t n_ccc;
    const uni_pair      *pairs; size_t n_pairs;
    const uni_gcb_range *gcb;  size_t n_gcb;
} uni_tables;

extern const uni_tables unicode_tables;

#endif
