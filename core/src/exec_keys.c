/* exec_keys.c: content-addressed cache keys.
 *
 * A node's signature lists its class, the fingerprint its plugin reports (e.g. a model
 * file's size and mtime), its id only when the class is not idempotent, and each
 * declared input in name order: constants by their coerced value (so 1 and 1.0 for an
 * INT are the same key), links by the upstream node's key and slot. The key is the
 * SHA-256 of that text, so it depends on content, never on node ids: the same sub-chain
 * in another workflow hits the cache, and a changed seed changes exactly the keys of the
 * sampler and what follows it. Uncacheable nodes get a fresh nonce per run, which also
 * makes everything downstream of them re-run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec.h"
#include "json_util.h"
#include "registry.h"
#include "sha256.h"
#include "strbuf.h"
#include "validate.h"
#include "workflow.h"

static int cmp_input_name(const void *a, const void *b)
{
    return strcmp((*(const loom_input *const *)a)->name, (*(const loom_input *const *)b)->name);
}

static void append_value(strbuf *b, const loom_value *v)
{
    switch (loom_value_kind(v)) {
    case LOOM_KIND_INT:
        if (loom_value_is_u64(v))
            sb_printf(b, "i:%llu", (unsigned long long)loom_value_get_u64(v));
        else
            sb_printf(b, "i:%lld", (long long)loom_value_get_int(v));
        break;
    case LOOM_KIND_FLOAT:
        sb_printf(b, "f:%.17g", loom_value_get_float(v));
        break;
    case LOOM_KIND_BOOL:
        sb_printf(b, "b:%d", loom_value_get_bool(v));
        break;
    case LOOM_KIND_STRING: {
        json_object *s = json_object_new_string(loom_value_get_str(v));
        sb_printf(b, "s:%s", json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN));
        json_object_put(s);
        break;
    }
    case LOOM_KIND_OBJECT:
        sb_printf(b, "o:%p", (const void *)v);
        break;
    }
}

static unsigned long long run_nonce(void)
{
    static unsigned long long counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^
           (++counter << 40);
}

int exec_compute_key(exec_run *r, exec_node *n, loom_error *err)
{
    if (n->keyed)
        return LOOM_OK;
    const loom_node_type *t = n->type;
    json_object *inputs = json_get(n->json, "inputs");
    bool cacheable = !(t->flags & LOOM_NODE_NEVER_CACHE);
    strbuf b = {0};
    sb_printf(&b, "class=%s", t->name);
    if (t->flags & LOOM_NODE_NOT_IDEMPOTENT)
        sb_printf(&b, "\nid=%s", n->id);

    const loom_input **sorted = calloc(t->n_inputs ? t->n_inputs : 1, sizeof *sorted);
    if (!sorted)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n_inputs; i++)
        sorted[i] = &t->inputs[i];
    qsort(sorted, t->n_inputs, sizeof *sorted, cmp_input_name);
    for (size_t i = 0; i < t->n_inputs; i++) {
        const loom_input *in = sorted[i];
        if (in->flags & LOOM_IN_HIDDEN)
            continue;
        json_object *v = json_get(inputs, in->name);
        if (!v)
            continue;
        const char *from;
        int slot;
        sb_printf(&b, "\n%s=", in->name);
        if (link_parse(v, &from, &slot)) {
            exec_node *up = exec_find(r, from);
            if (!up || exec_compute_key(r, up, err) != LOOM_OK) {
                free(sorted);
                sb_free(&b);
                if (!err || !err->code)
                    return loom_errorf(err, LOOM_ERR_INVALID, "input '%s': bad link", in->name);
                return err->code;
            }
            sb_printf(&b, "@%s:%d", up->key, slot);
            cacheable &= up->cacheable;
        } else {
            char why[256];
            loom_value *cv = NULL;
            if (coerce_input(in, v, r->s->models_dir, &cv, why, sizeof why) == COERCE_OK)
                append_value(&b, cv);
            else
                sb_append(&b, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
            loom_value_unref(cv);
        }
    }
    free(sorted);

    if (t->fingerprint && cacheable) {
        loom_node_ctx ctx;
        char fp[512] = "";
        if (node_ctx_init(&ctx, r, n, false, err) != LOOM_OK) {
            sb_free(&b);
            return err->code;
        }
        if (t->fingerprint(&ctx, fp, sizeof fp) != LOOM_OK)
            cacheable = false;
        node_ctx_release(&ctx);
        fp[sizeof fp - 1] = '\0';
        sb_printf(&b, "\nfingerprint=%s", fp);
    }
    if (!cacheable)
        sb_printf(&b, "\nnonce=%llx", run_nonce());
    char *sig = sb_take(&b);
    if (!sig)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    sha256_hex(sig, n->key);
    free(sig);
    n->cacheable = cacheable;
    n->keyed = true;
    return LOOM_OK;
}
