/* exec.c: running a validated workflow.
 *
 * 1. Keys: every node reachable from the targets gets a content key (exec_keys.c).
 * 2. Plan: walking back from the targets, a node whose key is in the cache is taken from
 *    it and its ancestors are not visited; every other node is scheduled. A post-order
 *    walk gives dependency order.
 * 3. Run: nodes execute in that order. Each output value is held by the run until its
 *    last scheduled consumer has run, then released; the cache keeps its own reference,
 *    so memory is freed as soon as neither a consumer nor the cache needs a value.
 * The first failure or an interrupt stops the run. Events report each step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec.h"
#include "json_util.h"
#include "registry.h"
#include "strmap.h"
#include "workflow.h"

exec_node *exec_find(exec_run *r, const char *id)
{
    for (size_t i = 0; i < r->n_nodes; i++)
        if (strcmp(r->nodes[i].id, id) == 0)
            return &r->nodes[i];
    return NULL;
}

void exec_emit(exec_run *r, loom_event *ev)
{
    ev->prompt_id = r->prompt_id;
    if (ev->node_id && !ev->title)
        ev->title = loom_workflow_node_title(r->wf, ev->node_id);
    if (r->opt && r->opt->on_event)
        r->opt->on_event(ev, r->opt->user);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void make_prompt_id(char out[40])
{
    unsigned char b[16] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, sizeof b, f) != sizeof b) {
        unsigned long long t = (unsigned long long)now_seconds() * 1000003ull ^ (unsigned long long)clock();
        memcpy(b, &t, sizeof t);
    }
    if (f)
        fclose(f);
    b[6] = (b[6] & 0x0f) | 0x40;   /* UUID version 4 */
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

/* Post-order walk from a target: cached nodes stop the walk; others are appended to
 * order after their inputs. Validation guarantees the reachable graph has no cycle. */
static void plan_node(exec_run *r, exec_node *n, exec_node **order, size_t *len)
{
    if (n->visited)
        return;
    n->visited = true;
    cache_entry *hit = n->cacheable ? cache_get(r->s->cache, n->key) : NULL;
    if (hit && hit->n == n->type->n_outputs) {
        n->from_cache = true;
        n->outputs = calloc(hit->n ? hit->n : 1, sizeof *n->outputs);
        for (size_t i = 0; n->outputs && i < hit->n; i++)
            n->outputs[i] = loom_value_ref(hit->outputs[i]);
        n->ui = hit->ui ? json_copy(hit->ui) : NULL;
        return;
    }
    json_object_object_foreach(json_get(n->json, "inputs"), name, v) {
        const char *from;
        if (!node_find_input(n->type, name) || !link_parse(v, &from, NULL))
            continue;   /* undeclared inputs are not passed to the node (ComfyUI drops them) */
        exec_node *up = exec_find(r, from);
        if (!up)
            continue;
        plan_node(r, up, order, len);
        up->consumers++;
    }
    n->needed = true;
    order[(*len)++] = n;
}

static void release_outputs(exec_node *n)
{
    for (size_t i = 0; n->outputs && i < n->type->n_outputs; i++)
        loom_value_unref(n->outputs[i]);
    free(n->outputs);
    n->outputs = NULL;
}

/* After n ran, its upstream nodes have one consumer fewer. */
static void release_inputs_of(exec_run *r, exec_node *n)
{
    json_object_object_foreach(json_get(n->json, "inputs"), name, v) {
        const char *from;
        if (!node_find_input(n->type, name) || !link_parse(v, &from, NULL))
            continue;
        exec_node *up = exec_find(r, from);
        if (up && up->consumers > 0 && --up->consumers == 0 && !(up->type->flags & LOOM_NODE_OUTPUT))
            release_outputs(up);
    }
}

static int run_node(exec_run *r, exec_node *n, loom_error *err)
{
    loom_event ev = {.type = LOOM_EV_EXECUTING, .node_id = n->id, .class_type = n->type->name};
    exec_emit(r, &ev);
    loom_node_ctx ctx;
    int rc = node_ctx_init(&ctx, r, n, true, err);
    if (rc != LOOM_OK)
        return loom_error_prefix(err, "node %s (%s): ", n->id, n->type->name);
    double t0 = now_seconds();
    rc = n->type->execute(&ctx);
    double dt = now_seconds() - t0;
    if (rc == LOOM_OK && ctx.failed)
        rc = ctx.err.code ? ctx.err.code : LOOM_ERR_RUNTIME;
    if (rc == LOOM_OK) {
        for (size_t i = 0; i < n->type->n_outputs; i++) {
            if (!ctx.outputs[i]) {
                loom_node_fail(&ctx, "finished without setting output %zu (%s)", i,
                               n->type->outputs[i].type);
                rc = LOOM_ERR_RUNTIME;
                break;
            }
        }
    }
    if (rc != LOOM_OK) {
        if (ctx.failed)
            *err = ctx.err;
        else if (rc == LOOM_ERR_INTERRUPTED)
            loom_errorf(err, LOOM_ERR_INTERRUPTED, "interrupted");
        else
            loom_errorf(err, (loom_status)rc, "failed without saying why (status %s)",
                        loom_status_name((loom_status)rc));
        if (rc == LOOM_ERR_INTERRUPTED || __atomic_load_n(&r->s->interrupt, __ATOMIC_SEQ_CST))
            err->code = LOOM_ERR_INTERRUPTED;
        node_ctx_release(&ctx);
        return err->code;
    }
    n->outputs = ctx.outputs;
    ctx.outputs = NULL;
    n->ui = ctx.ui;
    ctx.ui = NULL;
    node_ctx_release(&ctx);
    if (n->cacheable)
        cache_put(r->s->cache, n->key, n->outputs, n->type->n_outputs, n->ui);
    const char *ui_text = n->ui ? json_object_to_json_string_ext(
                                      n->ui, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                                : NULL;
    loom_event done = {.type = LOOM_EV_EXECUTED, .node_id = n->id, .class_type = n->type->name,
                       .output_json = ui_text, .seconds = dt};
    exec_emit(r, &done);
    release_inputs_of(r, n);
    return LOOM_OK;
}

static void run_free(exec_run *r)
{
    for (size_t i = 0; i < r->n_nodes; i++) {
        release_outputs(&r->nodes[i]);
        if (r->nodes[i].ui)
            json_object_put(r->nodes[i].ui);
    }
    free(r->nodes);
    free(r->prompt_text);
    free(r->pnginfo_text);
}

static bool is_target(const loom_run_options *opt, const exec_node *n)
{
    if (!(n->type->flags & LOOM_NODE_OUTPUT))
        return false;
    if (!opt || !opt->targets)
        return true;
    for (const char *const *t = opt->targets; *t; t++)
        if (strcmp(*t, n->id) == 0)
            return true;
    return false;
}

static void remember_outputs(exec_run *r)
{
    json_object_put(r->s->last_outputs);
    json_object_put(r->s->last_keys);
    r->s->last_outputs = json_object_new_object();
    r->s->last_keys = json_object_new_object();
    for (size_t i = 0; i < r->n_nodes; i++) {
        exec_node *n = &r->nodes[i];
        if (n->keyed && n->cacheable)
            json_object_object_add(r->s->last_keys, n->id, json_object_new_string(n->key));
        if (n->ui && (n->type->flags & LOOM_NODE_OUTPUT))
            json_object_object_add(r->s->last_outputs, n->id, json_copy(n->ui));
    }
}

static int execute_plan(exec_run *r, loom_error *err)
{
    exec_node **order = calloc(r->n_nodes ? r->n_nodes : 1, sizeof *order);
    const char **cached = calloc(r->n_nodes ? r->n_nodes : 1, sizeof *cached);
    if (!order || !cached) {
        free(order);
        free(cached);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory planning the run");
    }
    size_t len = 0, n_cached = 0;
    for (size_t i = 0; i < r->n_nodes; i++)
        if (is_target(r->opt, &r->nodes[i]))
            plan_node(r, &r->nodes[i], order, &len);
    /* Like ComfyUI, report every reachable node whose output is cached, including the
     * ancestors of cached nodes that the plan did not need to visit. */
    for (size_t i = 0; i < r->n_nodes; i++) {
        exec_node *n = &r->nodes[i];
        if (n->from_cache || (!n->needed && n->keyed && n->cacheable &&
                              cache_get(r->s->cache, n->key)))
            cached[n_cached++] = n->id;
    }

    double t0 = now_seconds();
    loom_event ev = {.type = LOOM_EV_EXECUTION_START};
    exec_emit(r, &ev);
    loom_event cev = {.type = LOOM_EV_EXECUTION_CACHED, .nodes = cached, .n_nodes = n_cached};
    exec_emit(r, &cev);
    /* Cached output nodes report their UI again, as ComfyUI does. */
    for (size_t i = 0; i < r->n_nodes; i++) {
        exec_node *n = &r->nodes[i];
        if (n->from_cache && (n->type->flags & LOOM_NODE_OUTPUT) && is_target(r->opt, n)) {
            loom_event done = {.type = LOOM_EV_EXECUTED, .node_id = n->id,
                               .class_type = n->type->name,
                               .output_json = n->ui ? json_object_to_json_string_ext(
                                   n->ui, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                                                    : NULL};
            exec_emit(r, &done);
        }
    }
    int rc = LOOM_OK;
    for (size_t i = 0; i < len; i++) {
        exec_node *n = order[i];
        if (__atomic_load_n(&r->s->interrupt, __ATOMIC_SEQ_CST)) {
            rc = loom_errorf(err, LOOM_ERR_INTERRUPTED, "interrupted before node %s (%s)", n->id,
                             n->type->name);
            loom_event iev = {.type = LOOM_EV_EXECUTION_INTERRUPTED, .node_id = n->id,
                              .class_type = n->type->name, .message = err->msg};
            exec_emit(r, &iev);
            break;
        }
        rc = run_node(r, n, err);
        if (rc == LOOM_ERR_INTERRUPTED) {
            loom_event iev = {.type = LOOM_EV_EXECUTION_INTERRUPTED, .node_id = n->id,
                              .class_type = n->type->name, .message = err->msg};
            exec_emit(r, &iev);
            loom_error_prefix(err, "node %s (%s): ", n->id, n->type->name);
            break;
        }
        if (rc != LOOM_OK) {
            loom_event eev = {.type = LOOM_EV_EXECUTION_ERROR, .node_id = n->id,
                              .class_type = n->type->name, .message = err->msg};
            exec_emit(r, &eev);
            loom_error_prefix(err, "node %s (%s): ", n->id, n->type->name);
            break;
        }
    }
    remember_outputs(r);
    if (rc == LOOM_OK) {
        loom_event sev = {.type = LOOM_EV_EXECUTION_SUCCESS, .seconds = now_seconds() - t0};
        exec_emit(r, &sev);
    }
    free(order);
    free(cached);
    return rc;
}

int loom_run(loom_session *s, loom_workflow *wf, const loom_run_options *opt, loom_error *err)
{
    loom_validation *v = loom_validate(s, wf);
    if (!v)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory validating");
    if (!loom_validation_ok(v)) {
        char *line = loom_validation_error_line(loom_validation_get(v, 0));
        loom_errorf(err, LOOM_ERR_INVALID, "workflow is not valid (%zu problem%s); first: %s",
                    loom_validation_count(v), loom_validation_count(v) == 1 ? "" : "s",
                    line ? line : "?");
        free(line);
        loom_validation_free(v);
        return LOOM_ERR_INVALID;
    }
    loom_validation_free(v);

    exec_run r = {.s = s, .wf = wf, .opt = opt};
    if (opt && opt->prompt_id)
        snprintf(r.prompt_id, sizeof r.prompt_id, "%s", opt->prompt_id);
    else
        make_prompt_id(r.prompt_id);
    r.n_nodes = (size_t)json_object_object_length(wf->prompt);
    r.nodes = calloc(r.n_nodes ? r.n_nodes : 1, sizeof *r.nodes);
    if (!r.nodes)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    size_t k = 0;
    json_object_object_foreach(wf->prompt, id, node) {
        r.nodes[k].id = id;
        r.nodes[k].json = node;
        r.nodes[k].type = registry_find(s->reg, json_get_str(node, "class_type"));
        k++;
    }
    /* A new run starts clean: an interrupt from before it does not count. */
    __atomic_store_n(&s->interrupt, 0, __ATOMIC_SEQ_CST);
    cache_begin_run(s->cache);
    int rc = LOOM_OK;
    for (size_t i = 0; i < r.n_nodes && rc == LOOM_OK; i++)
        if (is_target(opt, &r.nodes[i]))
            rc = exec_compute_key(&r, &r.nodes[i], err);
    if (rc == LOOM_OK)
        rc = execute_plan(&r, err);
    run_free(&r);
    cache_trim(s->cache);
    return rc;
}

char *loom_session_last_outputs(loom_session *s)
{
    return strdup(json_object_to_json_string_ext(s->last_outputs, JSON_C_TO_STRING_PLAIN |
                                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
}

loom_value *loom_session_last_value(loom_session *s, const char *node_id, size_t slot)
{
    const char *key = json_get_str(s->last_keys, node_id);
    cache_entry *e = key ? cache_get(s->cache, key) : NULL;
    if (!e || slot >= e->n)
        return NULL;
    return loom_value_ref(e->outputs[slot]);
}
