/* node_ctx.c: what a node sees while it runs (the loom_in_* / loom_out API).
 *
 * A ctx holds one reference per declared input: the upstream output for a link, a
 * coerced value for a constant, a string for hidden inputs (prompt, workflow, node id).
 * Lookups are by name over the node's declared inputs: nodes have a handful of inputs,
 * so a linear scan beats any index. Outputs are set once each; the engine checks that
 * every output was set before anything downstream runs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "json_util.h"
#include "models.h"
#include "validate.h"
#include "workflow.h"

static const char *prompt_text(exec_run *r)
{
    if (!r->prompt_text)
        r->prompt_text = strdup(json_object_to_json_string_ext(
            r->wf->prompt, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    return r->prompt_text ? r->prompt_text : "{}";
}

static const char *pnginfo_text(exec_run *r)
{
    if (!r->pnginfo_text) {
        json_object *ui = NULL, *wrap = json_object_new_object();
        loom_error ignored;
        if (r->opt && r->opt->workflow_json)
            json_parse_text(r->opt->workflow_json, strlen(r->opt->workflow_json), "workflow",
                            &ui, &ignored);
        else if (r->wf->ui)
            ui = json_object_get(r->wf->ui);
        if (ui)
            json_object_object_add(wrap, "workflow", ui);
        r->pnginfo_text = strdup(json_object_to_json_string_ext(
            wrap, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(wrap);
    }
    return r->pnginfo_text ? r->pnginfo_text : "{}";
}

int node_ctx_init(loom_node_ctx *ctx, exec_run *r, exec_node *n, bool with_links,
                  loom_error *err)
{
    const loom_node_type *t = n->type;
    memset(ctx, 0, sizeof *ctx);
    ctx->run = r;
    ctx->node = n;
    ctx->inputs = calloc(t->n_inputs ? t->n_inputs : 1, sizeof *ctx->inputs);
    ctx->outputs = calloc(t->n_outputs ? t->n_outputs : 1, sizeof *ctx->outputs);
    if (!ctx->inputs || !ctx->outputs) {
        node_ctx_release(ctx);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    }
    json_object *inputs = json_get(n->json, "inputs");
    for (size_t i = 0; i < t->n_inputs; i++) {
        const loom_input *in = &t->inputs[i];
        if (in->flags & LOOM_IN_HIDDEN) {
            if (!strcmp(in->type, LOOM_T_PROMPT))
                ctx->inputs[i] = loom_value_string(prompt_text(r));
            else if (!strcmp(in->type, LOOM_T_EXTRA_PNGINFO))
                ctx->inputs[i] = loom_value_string(pnginfo_text(r));
            else if (!strcmp(in->type, LOOM_T_UNIQUE_ID))
                ctx->inputs[i] = loom_value_string(n->id);
            continue;
        }
        json_object *v = json_get(inputs, in->name);
        if (!v)
            continue;
        const char *from;
        int slot;
        if (link_parse(v, &from, &slot)) {
            if (!with_links)
                continue;
            exec_node *up = exec_find(r, from);
            if (!up || !up->outputs || (size_t)slot >= up->type->n_outputs) {
                node_ctx_release(ctx);
                return loom_errorf(err, LOOM_ERR_INVALID, "input '%s' links to a missing output",
                                   in->name);
            }
            ctx->inputs[i] = loom_value_ref(up->outputs[slot]);
        } else {
            char why[512];
            if (coerce_input(in, v, r->s->models_dir, &ctx->inputs[i], why, sizeof why) != COERCE_OK) {
                node_ctx_release(ctx);
                return loom_errorf(err, LOOM_ERR_INVALID, "input '%s': %s", in->name,
                                   why[0] ? why : "invalid value");
            }
        }
    }
    return LOOM_OK;
}

void node_ctx_release(loom_node_ctx *ctx)
{
    const loom_node_type *t = ctx->node ? ctx->node->type : NULL;
    for (size_t i = 0; t && ctx->inputs && i < t->n_inputs; i++)
        loom_value_unref(ctx->inputs[i]);
    for (size_t i = 0; t && ctx->outputs && i < t->n_outputs; i++)
        loom_value_unref(ctx->outputs[i]);
    free(ctx->inputs);
    free(ctx->outputs);
    if (ctx->ui)
        json_object_put(ctx->ui);
    ctx->inputs = ctx->outputs = NULL;
    ctx->ui = NULL;
}

/* An input the node type does not declare is a bug in the node (a typo such as "stpes"):
 * the node fails with the name instead of silently reading 0. */
const loom_value *loom_in(loom_node_ctx *ctx, const char *name)
{
    const loom_node_type *t = ctx->node->type;
    for (size_t i = 0; i < t->n_inputs; i++)
        if (strcmp(t->inputs[i].name, name) == 0)
            return ctx->inputs[i];
    if (!ctx->failed)
        loom_node_fail(ctx, "read input '%s', which node type %s does not declare",
                       name ? name : "(null)", t->name);
    return NULL;
}

int64_t     loom_in_int  (loom_node_ctx *c, const char *n) { return loom_value_get_int(loom_in(c, n)); }
uint64_t    loom_in_u64  (loom_node_ctx *c, const char *n) { return loom_value_get_u64(loom_in(c, n)); }
double      loom_in_float(loom_node_ctx *c, const char *n) { return loom_value_get_float(loom_in(c, n)); }
bool        loom_in_bool (loom_node_ctx *c, const char *n) { return loom_value_get_bool(loom_in(c, n)); }

const char *loom_in_str(loom_node_ctx *c, const char *n)
{
    const char *s = loom_value_get_str(loom_in(c, n));
    return s ? s : "";
}

void *loom_in_object(loom_node_ctx *c, const char *n, const char *type)
{
    return loom_value_object_ptr(loom_in(c, n), type);
}

int loom_out(loom_node_ctx *ctx, size_t index, loom_value *v)
{
    const loom_node_type *t = ctx->node->type;
    if (!v)
        return loom_node_fail_code(ctx, LOOM_ERR_NOMEM, "out of memory making output %zu", index);
    if (index >= t->n_outputs) {
        loom_value_unref(v);
        return loom_node_fail(ctx, "set output %zu, but the node declares %zu outputs", index,
                              t->n_outputs);
    }
    loom_value_unref(ctx->outputs[index]);
    ctx->outputs[index] = v;
    return LOOM_OK;
}

int loom_ui_append(loom_node_ctx *ctx, const char *key, const char *json)
{
    json_object *v;
    loom_error err;
    if (json_parse_text(json, strlen(json), "UI entry", &v, &err) != LOOM_OK)
        return loom_node_fail(ctx, "bad UI output for '%s': %s", key, err.msg);
    if (!ctx->ui)
        ctx->ui = json_object_new_object();
    json_object *list = json_get(ctx->ui, key);
    if (!list || !json_object_is_type(list, json_type_array)) {
        list = json_object_new_array();
        json_object_object_add(ctx->ui, key, list);
    }
    json_object_array_add(list, v);
    return LOOM_OK;
}

int loom_ui_file(loom_node_ctx *ctx, const char *key, const char *filename,
                 const char *subfolder, const char *type)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "filename", json_object_new_string(filename));
    json_object_object_add(o, "subfolder", json_object_new_string(subfolder ? subfolder : ""));
    json_object_object_add(o, "type", json_object_new_string(type ? type : "output"));
    int rc = loom_ui_append(ctx, key, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return rc;
}

bool loom_interrupted(loom_node_ctx *ctx)
{
    return __atomic_load_n(&ctx->run->s->interrupt, __ATOMIC_SEQ_CST) != 0;
}

int loom_progress_detail(loom_node_ctx *ctx, int64_t value, int64_t max, const char *json)
{
    loom_event ev = {.type = LOOM_EV_PROGRESS, .node_id = ctx->node->id,
                     .class_type = ctx->node->type->name, .value = value, .max = max,
                     .output_json = json};
    exec_emit(ctx->run, &ev);
    return loom_interrupted(ctx) ? LOOM_ERR_INTERRUPTED : LOOM_OK;
}

int loom_progress(loom_node_ctx *ctx, int64_t value, int64_t max)
{
    return loom_progress_detail(ctx, value, max, NULL);
}

static int fail_v(loom_node_ctx *ctx, loom_status code, const char *fmt, va_list ap)
{
    if (!ctx->failed) {    /* keep the first, most specific reason */
        loom_verrorf(&ctx->err, code, fmt, ap);
        ctx->failed = true;
    }
    return code;
}

int loom_node_fail(loom_node_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_v(ctx, LOOM_ERR_RUNTIME, fmt, ap);
    va_end(ap);
    return rc;
}

int loom_node_fail_code(loom_node_ctx *ctx, loom_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_v(ctx, code, fmt, ap);
    va_end(ap);
    return rc;
}

int loom_node_fail_err(loom_node_ctx *ctx, const loom_error *e)
{
    return loom_node_fail_code(ctx, e && e->code ? e->code : LOOM_ERR_RUNTIME, "%s",
                               e && e->msg[0] ? e->msg : "unknown error");
}

const char *loom_node_id(loom_node_ctx *ctx) { return ctx->node->id; }
const char *loom_node_class(loom_node_ctx *ctx) { return ctx->node->type->name; }
void *loom_node_userdata(loom_node_ctx *ctx) { return ctx->node->type->userdata; }
const char *loom_models_dir(loom_node_ctx *ctx) { return ctx->run->s->models_dir; }
const char *loom_output_dir(loom_node_ctx *ctx) { return ctx->run->s->output_dir; }

int loom_model_path(loom_node_ctx *ctx, const char *folder, const char *name, char *out,
                    size_t cap)
{
    loom_error err;
    if (models_resolve(ctx->run->s->models_dir, folder, name, out, cap, &err) != LOOM_OK)
        return loom_node_fail_err(ctx, &err);
    return LOOM_OK;
}

void loom_node_log(loom_node_ctx *ctx, const char *fmt, ...)
{
    if (ctx->run->s->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%s %s] ", ctx->node->id, ctx->node->type->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
