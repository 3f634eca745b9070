/* exec.h: one run of a workflow (internal to exec*.c and node_ctx.c). */
#ifndef LOOM_EXEC_H
#define LOOM_EXEC_H

#include <json-c/json.h>

#include "cache.h"
#include "loom/loom.h"
#include "session.h"

typedef struct exec_node {
    const char           *id;
    json_object          *json;        /* the node in the prompt */
    const loom_node_type *type;
    char                  key[65];     /* SHA-256 of the signature */
    bool                  cacheable;
    bool                  keyed, visited, needed, from_cache, done;
    loom_value          **outputs;     /* type->n_outputs references once available */
    json_object          *ui;          /* UI dict produced (or cached) */
    int                   consumers;   /* needed consumers that have not run yet */
} exec_node;

typedef struct exec_run {
    loom_session           *s;
    loom_workflow          *wf;
    const loom_run_options *opt;
    char                    prompt_id[40];
    exec_node              *nodes;     /* every node of the prompt */
    size_t                  n_nodes;
    char                   *prompt_text;    /* lazily: the prompt JSON for hidden inputs */
    char                   *pnginfo_text;   /* lazily: {"workflow": ...} */
} exec_run;

struct loom_node_ctx {
    exec_run    *run;
    exec_node   *node;
    loom_value **inputs;      /* per declared input: owned ref or NULL */
    loom_value **outputs;     /* per output: owned ref or NULL until set */
    json_object *ui;          /* {key: [entries]} or NULL */
    loom_error   err;
    bool         failed;
};

exec_node *exec_find(exec_run *r, const char *id);
void       exec_emit(exec_run *r, loom_event *ev);
/* Compute the cache key of node n (and of its upstream nodes first). */
int        exec_compute_key(exec_run *r, exec_node *n, loom_error *err);
/* Build a ctx holding n's inputs; constants only when with_links is false. */
int        node_ctx_init(loom_node_ctx *ctx, exec_run *r, exec_node *n, bool with_links,
                         loom_error *err);
void       node_ctx_release(loom_node_ctx *ctx);

#endif
