/* validate.c: checking a workflow before anything runs, ComfyUI's way.
 *
 * Every output node is validated depth-first through its links (memoised per node).
 * A node is invalid when one of its own inputs is wrong (an error is recorded on it) or
 * when an upstream node is invalid (no error is recorded: only the root cause is shown,
 * as in ComfyUI). All problems are collected so the user sees them at once. The JSON
 * form matches ComfyUI's /prompt error response, so its frontend outlines the right
 * widget; the line form names node id, class and input for a terminal.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "models.h"
#include "object_info.h"
#include "registry.h"
#include "session.h"
#include "strbuf.h"
#include "strmap.h"
#include "validate.h"
#include "workflow.h"

/* value_not_in_list shows the whole list up to this many entries, like ComfyUI. */
#define LIST_SHOW_MAX 20

typedef struct verr {
    loom_validation_error pub;   /* strings below are owned */
    json_object          *extra_info;
} verr;

struct loom_validation {
    verr        *errs;
    size_t       n, cap;
    json_object *dependents;     /* node id -> [output ids that need it] */
};

typedef enum { V_UNSEEN = 0, V_VISITING, V_VALID, V_INVALID } vstate;

typedef struct vctx {
    loom_session    *s;
    json_object     *prompt;
    loom_validation *v;
    strmap           state;      /* node id -> (void*)vstate */
    strmap           failed;     /* node ids with their own errors */
} vctx;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void add_error(loom_validation *v, const char *node_id, const char *class_type,
                      const char *type, const char *message, const char *details,
                      const char *input_name, json_object *extra_info)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        verr *e = realloc(v->errs, cap * sizeof *e);
        if (!e) {
            if (extra_info)
                json_object_put(extra_info);
            return;
        }
        v->errs = e;
        v->cap = cap;
    }
    verr *e = &v->errs[v->n++];
    e->pub.node_id = dup_or_null(node_id);
    e->pub.class_type = dup_or_null(class_type);
    e->pub.type = dup_or_null(type);
    e->pub.message = dup_or_null(message);
    e->pub.details = dup_or_null(details ? details : "");
    e->pub.input_name = dup_or_null(input_name);
    if (!extra_info)
        extra_info = json_object_new_object();
    if (input_name && !json_get(extra_info, "input_name"))
        json_object_object_add(extra_info, "input_name", json_object_new_string(input_name));
    e->extra_info = extra_info;
}

static void node_error(vctx *c, const char *id, const char *cls, const char *type,
                       const char *message, const char *details, const char *input,
                       json_object *extra)
{
    add_error(c->v, id, cls, type, message, details, input, extra);
    strmap_put(&c->failed, id, (void *)1);
}

static json_object *extra_for(const loom_input *in, const char *models_dir, json_object *received)
{
    json_object *x = json_object_new_object();
    json_object_object_add(x, "input_name", json_object_new_string(in->name));
    json_object_object_add(x, "input_config", object_info_input_config(in, models_dir));
    if (received)
        json_object_object_add(x, "received_value", json_copy(received));
    return x;
}

static vstate validate_node(vctx *c, const char *id);

static bool check_link(vctx *c, const char *id, const char *cls, const loom_input *in,
                       json_object *val)
{
    const char *from;
    int slot;
    if (!link_parse(val, &from, &slot)) {
        node_error(c, id, cls, "bad_linked_input",
                   "Bad linked input, must be a length-2 list of [string, int]", in->name,
                   in->name, NULL);
        return false;
    }
    json_object *up = json_get(c->prompt, from);
    if (!up) {
        char details[512];
        snprintf(details, sizeof details, "%s: linked to node '%s', which is not in the workflow",
                 in->name, from);
        node_error(c, id, cls, "bad_linked_input", "Linked node does not exist", details,
                   in->name, NULL);
        return false;
    }
    vstate st = validate_node(c, from);
    const loom_node_type *ut = registry_find(c->s->reg, json_get_str(up, "class_type"));
    if (!ut || st == V_INVALID)
        return false;                 /* the root cause is reported on the upstream node */
    if (st == V_VISITING)
        return false;                 /* a cycle, reported where it closes */
    if ((size_t)slot >= ut->n_outputs) {
        char details[512];
        snprintf(details, sizeof details, "%s: node '%s' (%s) has no output %d (it has %zu)",
                 in->name, from, ut->name, slot, ut->n_outputs);
        node_error(c, id, cls, "bad_linked_input", "Linked output does not exist", details,
                   in->name, NULL);
        return false;
    }
    const char *otype = ut->outputs[slot].type;
    const char *itype = input_is_combo(in) ? "COMBO" : in->type;
    if (!socket_types_match(otype, itype) &&
        !(input_is_combo(in) && (!strcmp(otype, "STRING") || !strcmp(otype, "COMBO")))) {
        char details[512];
        snprintf(details, sizeof details, "%s, received_type(%s) mismatch input_type(%s)",
                 in->name, otype, itype);
        json_object *x = json_object_new_object();
        json_object_object_add(x, "input_name", json_object_new_string(in->name));
        json_object_object_add(x, "input_config", object_info_input_config(in, c->s->models_dir));
        json_object_object_add(x, "received_type", json_object_new_string(otype));
        json_object_object_add(x, "linked_node", json_copy(val));
        node_error(c, id, cls, "return_type_mismatch", "Return type mismatch between linked nodes",
                   details, in->name, x);
        return false;
    }
    return true;
}

/* A range limit as the user wrote it: INT limits as integers (the largest seed is
 * 18446744073709551615, not 1.8446744073709552e+19), FLOAT ones with full precision. */
static void format_limit(const loom_input *in, double limit, char *buf, size_t cap)
{
    if (strcmp(in->type, LOOM_T_INT) != 0)
        snprintf(buf, cap, "%.17g", limit);
    else if (limit >= 18446744073709551615.0)
        snprintf(buf, cap, "18446744073709551615");
    else
        snprintf(buf, cap, "%.0f", limit);
}

static bool check_constant(vctx *c, const char *id, const char *cls, const loom_input *in,
                           json_object *val)
{
    char **choices = input_is_combo(in) ? input_choices(in, c->s->models_dir) : NULL;
    loom_value *out = NULL;
    char why[512];
    coerce_result r = coerce_constant(in, val, choices, &out, why, sizeof why);
    loom_value_unref(out);
    json_object *shown = json_get(val, "__value__") ? json_get(val, "__value__") : val;
    const char *text = json_object_to_json_string_ext(shown, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE);
    char msg[256], details[1024], limit[64], as_written[128];
    /* an integer literal beyond 64 bits reaches here as "<digits>.0" (json_util.c) */
    size_t tl = strlen(text);
    if (tl > 20 && tl < sizeof as_written && !strcmp(text + tl - 2, ".0") &&
        strspn(text + (text[0] == '-'), "0123456789") == tl - 2 - (text[0] == '-')) {
        snprintf(as_written, sizeof as_written, "%.*s", (int)(tl - 2), text);
        text = as_written;
    }
    bool ok = r == COERCE_OK;
    switch (r) {
    case COERCE_OK:
        break;
    case COERCE_BAD_TYPE: {
        snprintf(msg, sizeof msg, "Failed to convert an input value to a %s value", in->type);
        snprintf(details, sizeof details, "%s, %.300s, %s", in->name, text, why);
        json_object *x = extra_for(in, c->s->models_dir, shown);
        json_object_object_add(x, "exception_message", json_object_new_string(why));
        node_error(c, id, cls, "invalid_input_type", msg, details, in->name, x);
        break;
    }
    case COERCE_TOO_SMALL:
        format_limit(in, in->min, limit, sizeof limit);
        snprintf(msg, sizeof msg, "Value %.100s smaller than min of %s", text, limit);
        node_error(c, id, cls, "value_smaller_than_min", msg, in->name, in->name,
                   extra_for(in, c->s->models_dir, shown));
        break;
    case COERCE_TOO_BIG:
        format_limit(in, in->max, limit, sizeof limit);
        snprintf(msg, sizeof msg, "Value %.100s bigger than max of %s", text, limit);
        node_error(c, id, cls, "value_bigger_than_max", msg, in->name, in->name,
                   extra_for(in, c->s->models_dir, shown));
        break;
    case COERCE_NOT_IN_LIST: {
        size_t n = models_list_len(choices);
        strbuf b = {0};
        const char *sval = json_object_is_type(shown, json_type_string)
                               ? json_object_get_string(shown) : text;
        sb_printf(&b, "%s: '%s' not in ", in->name, sval);
        if (n > LIST_SHOW_MAX) {
            sb_printf(&b, "(list of length %zu)", n);
        } else {
            sb_append(&b, "[");
            for (size_t i = 0; i < n; i++)
                sb_printf(&b, "%s'%s'", i ? ", " : "", choices[i]);
            sb_append(&b, "]");
        }
        if (in->model_folder) {
            char *where = models_describe_search(c->s->models_dir, in->model_folder);
            sb_printf(&b, " (searched %s)", where ? where : in->model_folder);
            free(where);
        }
        char *d = sb_take(&b);
        json_object *x = extra_for(in, c->s->models_dir, shown);
        if (n > LIST_SHOW_MAX)
            json_object_object_add(x, "input_config", NULL);
        node_error(c, id, cls, "value_not_in_list", "Value not in list", d ? d : in->name,
                   in->name, x);
        free(d);
        break;
    }
    }
    models_list_free(choices);
    return ok;
}

static vstate validate_node(vctx *c, const char *id)
{
    vstate st = (vstate)(intptr_t)strmap_get(&c->state, id);
    if (st == V_VISITING) {
        json_object *node = json_get(c->prompt, id);
        node_error(c, id, json_get_str(node, "class_type"), "dependency_cycle",
                   "Dependency cycle detected", "the node depends on its own output", NULL, NULL);
        return V_VISITING;
    }
    if (st != V_UNSEEN)
        return st;
    strmap_put(&c->state, id, (void *)(intptr_t)V_VISITING);
    json_object *node = json_get(c->prompt, id);
    const char *cls = json_get_str(node, "class_type");
    const loom_node_type *t = registry_find(c->s->reg, cls);
    bool ok = t != NULL;     /* unknown classes were reported up front */
    json_object *inputs = json_get(node, "inputs");
    for (size_t i = 0; t && i < t->n_inputs; i++) {
        const loom_input *in = &t->inputs[i];
        if (in->flags & LOOM_IN_HIDDEN)
            continue;
        json_object *val = json_get(inputs, in->name);
        if (!val) {
            if (!(in->flags & LOOM_IN_OPTIONAL)) {
                node_error(c, id, cls, "required_input_missing", "Required input is missing",
                           in->name, in->name, NULL);
                ok = false;
            }
            continue;
        }
        bool looks_linked = json_object_is_type(val, json_type_array) &&
                            json_object_array_length(val) == 2 &&
                            json_object_is_type(json_object_array_get_idx(val, 0), json_type_string);
        if (looks_linked || (json_object_is_type(val, json_type_array) && !input_is_widget(in)))
            ok &= check_link(c, id, cls, in, val);
        else
            ok &= check_constant(c, id, cls, in, val);
    }
    if (t && !t->execute) {
        char details[256];
        snprintf(details, sizeof details, "'%s' is known but cannot run in this build of loom",
                 cls);
        node_error(c, id, cls, "node_not_implemented", "Node type is not implemented yet",
                   details, NULL, NULL);
        ok = false;
    }
    /* A cycle through this node may have marked it failed while we were inside. */
    if (strmap_has(&c->failed, id))
        ok = false;
    st = ok ? V_VALID : V_INVALID;
    strmap_put(&c->state, id, (void *)(intptr_t)st);
    return st;
}

/* Record, for each node that has errors and feeds output `out`, that `out` depends on it. */
static void collect_dependents(vctx *c, const char *id, const char *out, strmap *seen)
{
    if (strmap_has(seen, id))
        return;
    strmap_put(seen, id, (void *)1);
    if (strmap_has(&c->failed, id)) {
        json_object *list = json_get(c->v->dependents, id);
        if (!list) {
            list = json_object_new_array();
            json_object_object_add(c->v->dependents, id, list);
        }
        json_object_array_add(list, json_object_new_string(out));
    }
    json_object_object_foreach(json_get(json_get(c->prompt, id), "inputs"), k, val) {
        (void)k;
        const char *from;
        if (link_parse(val, &from, NULL) && json_get(c->prompt, from))
            collect_dependents(c, from, out, seen);
    }
}

loom_validation *loom_validate(loom_session *s, loom_workflow *wf)
{
    loom_validation *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->dependents = json_object_new_object();
    vctx c = {.s = s, .prompt = wf->prompt, .v = v};
    size_t n_outputs = 0, n_unknown = 0;
    json_object_object_foreach(wf->prompt, id, node) {
        const char *cls = json_get_str(node, "class_type");
        const loom_node_type *t = registry_find(s->reg, cls);
        if (!t) {
            char msg[512], details[300];
            snprintf(msg, sizeof msg, "Cannot execute because node %s does not exist.",
                     cls ? cls : "(no class_type)");
            snprintf(details, sizeof details, "Node ID '#%s'", id);
            node_error(&c, id, cls, "invalid_prompt", msg, details, NULL, NULL);
            n_unknown++;
        } else if (t->flags & LOOM_NODE_OUTPUT) {
            n_outputs++;
        }
    }
    if (n_outputs == 0 && n_unknown == 0)
        add_error(v, NULL, NULL, "prompt_no_outputs", "Prompt has no outputs", "", NULL, NULL);
    json_object_object_foreach(wf->prompt, oid, onode) {
        const loom_node_type *t = registry_find(s->reg, json_get_str(onode, "class_type"));
        if (!t || !(t->flags & LOOM_NODE_OUTPUT))
            continue;
        validate_node(&c, oid);
        strmap seen = {0};
        collect_dependents(&c, oid, oid, &seen);
        strmap_free(&seen);
    }
    strmap_free(&c.state);
    strmap_free(&c.failed);
    return v;
}

bool   loom_validation_ok(const loom_validation *v) { return v && v->n == 0; }
size_t loom_validation_count(const loom_validation *v) { return v ? v->n : 0; }

const loom_validation_error *loom_validation_get(const loom_validation *v, size_t i)
{
    return v && i < v->n ? &v->errs[i].pub : NULL;
}

static json_object *error_json(const verr *e)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(e->pub.type));
    json_object_object_add(o, "message", json_object_new_string(e->pub.message));
    json_object_object_add(o, "details", json_object_new_string(e->pub.details));
    json_object_object_add(o, "extra_info", json_copy(e->extra_info));
    return o;
}

char *loom_validation_to_json(const loom_validation *v, bool pretty)
{
    json_object *root = json_object_new_object(), *node_errors = json_object_new_object();
    const verr *top = NULL;
    strbuf all = {0};
    for (size_t i = 0; i < v->n; i++) {
        const verr *e = &v->errs[i];
        if (!e->pub.node_id || !strcmp(e->pub.type, "invalid_prompt")) {
            if (!top)
                top = e;
        }
        if (!e->pub.node_id)
            continue;
        json_object *ne = json_get(node_errors, e->pub.node_id);
        if (!ne) {
            ne = json_object_new_object();
            json_object_object_add(ne, "errors", json_object_new_array());
            json_object *deps = json_get(v->dependents, e->pub.node_id);
            json_object_object_add(ne, "dependent_outputs",
                                   deps ? json_copy(deps) : json_object_new_array());
            json_object_object_add(ne, "class_type", e->pub.class_type
                                   ? json_object_new_string(e->pub.class_type) : NULL);
            json_object_object_add(node_errors, e->pub.node_id, ne);
        }
        json_object_array_add(json_get(ne, "errors"), error_json(e));
        sb_printf(&all, "%s%s: %s", all.len ? "\n" : "", e->pub.message, e->pub.details);
    }
    if (top) {
        json_object_object_add(root, "error", error_json(top));
    } else if (v->n) {
        json_object *err = json_object_new_object();
        json_object_object_add(err, "type", json_object_new_string("prompt_outputs_failed_validation"));
        json_object_object_add(err, "message", json_object_new_string("Prompt outputs failed validation"));
        json_object_object_add(err, "details", json_object_new_string(all.s ? all.s : ""));
        json_object_object_add(err, "extra_info", json_object_new_object());
        json_object_object_add(root, "error", err);
    }
    sb_free(&all);
    json_object_object_add(root, "node_errors", node_errors);
    int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
    char *out = strdup(json_object_to_json_string_ext(root, flags));
    json_object_put(root);
    return out;
}

char *loom_validation_error_line(const loom_validation_error *e)
{
    strbuf b = {0};
    if (e->node_id)
        sb_printf(&b, "node %s (%s)", e->node_id, e->class_type ? e->class_type : "?");
    else
        sb_append(&b, "workflow");
    if (e->input_name)
        sb_printf(&b, " input '%s'", e->input_name);
    sb_printf(&b, ": %s", e->message);
    if (e->details && e->details[0] && (!e->input_name || strcmp(e->details, e->input_name)))
        sb_printf(&b, " (%s)", e->details);
    sb_printf(&b, " [%s]", e->type);
    return sb_take(&b);
}

void loom_validation_free(loom_validation *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        verr *e = &v->errs[i];
        free((char *)e->pub.node_id);
        free((char *)e->pub.class_type);
        free((char *)e->pub.type);
        free((char *)e->pub.message);
        free((char *)e->pub.details);
        free((char *)e->pub.input_name);
        if (e->extra_info)
            json_object_put(e->extra_info);
    }
    free(v->errs);
    json_object_put(v->dependents);
    free(v);
}
