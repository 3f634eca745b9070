/* workflow_ui_resolve.c: following a UI link back to the node that really produces it.
 *
 * In the UI format a link may start at something that is not sent to the backend: a
 * Reroute (follow its input), a PrimitiveNode (its widget value becomes a constant), a
 * Get/Set pair (follow the Set node's input), a bypassed node (follow its input of the
 * same type, preferring the same slot), a subgraph instance (continue inside the
 * definition at the link that feeds output node -20) or, inside a definition, the input
 * node -10 (continue outside at the instance's input, or take the instance's promoted
 * widget value when that input is not linked). ui_resolve_link walks these steps, moving
 * between scopes, until it reaches a real node (a link "<prefix><id>", slot), a constant,
 * nothing, or a muted node. This is the frontend's ExecutableNodeDTO.resolveInput.
 *
 * Invariant: every step either ends the walk or moves to another link, so the walk is
 * bounded by UI_MAX_HOPS; scopes created while descending into subgraphs are owned by the
 * walk and freed when it ends.
 */
#include "workflow_ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- virtual node types ------------------------------------------------------------- */

typedef enum ui_virtual_kind {
    UI_VIRT_NONE,        /* a real node */
    UI_VIRT_PASSTHROUGH, /* Reroute-like: output 0 = input 0 */
    UI_VIRT_PRIMITIVE,   /* PrimitiveNode: output = widgets_values[0] */
    UI_VIRT_GET,         /* KJNodes GetNode: output = the matching SetNode's input */
    UI_VIRT_INERT        /* notes, labels, group togglers: no data */
} ui_virtual_kind;

static const struct {
    const char     *type;
    ui_virtual_kind kind;
} ui_virtual_types[] = {
    {"Note",                           UI_VIRT_INERT},
    {"MarkdownNote",                   UI_VIRT_INERT},
    {"Reroute",                        UI_VIRT_PASSTHROUGH},
    {"PrimitiveNode",                  UI_VIRT_PRIMITIVE},
    {"GetNode",                        UI_VIRT_GET},
    {"SetNode",                        UI_VIRT_PASSTHROUGH},
    {"Reroute (rgthree)",              UI_VIRT_PASSTHROUGH},
    {"Fast Groups Bypasser (rgthree)", UI_VIRT_INERT},
    {"Fast Groups Muter (rgthree)",    UI_VIRT_INERT},
    {"Fast Bypasser (rgthree)",        UI_VIRT_INERT},
    {"Fast Muter (rgthree)",           UI_VIRT_INERT},
    {"Bookmark (rgthree)",             UI_VIRT_INERT},
    {"Label (rgthree)",                UI_VIRT_INERT},
    {"Note Plus (mtb)",                UI_VIRT_INERT},
};

static ui_virtual_kind virtual_kind(const registry *reg, const char *type)
{
    for (size_t i = 0; i < sizeof ui_virtual_types / sizeof ui_virtual_types[0]; i++)
        if (strcmp(ui_virtual_types[i].type, type) == 0)
            return (reg && registry_find(reg, type)) ? UI_VIRT_NONE : ui_virtual_types[i].kind;
    return UI_VIRT_NONE;
}

bool ui_type_is_virtual(const registry *reg, const char *type)
{
    return virtual_kind(reg, type) != UI_VIRT_NONE;
}

/* ---- small helpers ---------------------------------------------------------------------- */

void ui_res_clear(ui_res *res)
{
    free(res->node_id);
    memset(res, 0, sizeof *res);
}

/* The link id on input entry i of n, or false when unlinked. */
static bool input_link(const ui_node *n, size_t i, char buf[UI_ID_MAX])
{
    json_object *in = ui_node_input(n, i);
    return in && ui_id(json_get(in, "link"), buf) == UI_ID_OK;
}

static json_object *first_widget(const ui_node *n)
{
    if (n->widgets && json_object_is_type(n->widgets, json_type_array) &&
        json_object_array_length(n->widgets) > 0)
        return json_object_array_get_idx(n->widgets, 0);
    if (n->widgets && json_object_is_type(n->widgets, json_type_object))
        return json_get(n->widgets, "value");
    return NULL;
}

/* The SetNode that a GetNode names (both carry the name as their first widget). */
static const ui_node *find_set_node(const ui_conv *c, const ui_graph *g, const ui_node *get)
{
    json_object *name = first_widget(get);
    if (!json_object_is_type(name, json_type_string))
        return NULL;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const ui_node *n = &g->nodes[i];
        json_object *w;
        if (strcmp(n->type, "SetNode") == 0 && virtual_kind(c->reg, n->type) != UI_VIRT_NONE &&
            json_object_is_type((w = first_widget(n)), json_type_string) &&
            strcmp(json_object_get_string(w), json_object_get_string(name)) == 0)
            return n;
    }
    return NULL;
}

/* The input of bypassed node n that stands in for its output `slot` of type `type`:
 * the same slot when its type matches, else the first input of that type. */
static long bypass_input(const ui_node *n, int64_t slot, const char *type)
{
    size_t count = ui_node_input_count(n);
    if (slot < 0)
        return -1;
    if (!type || !type[0] || strcmp(type, "*") == 0)
        return (size_t)slot < count ? (long)slot : (count ? 0 : -1);
    const char *t;
    if ((t = json_get_str(ui_node_input(n, (size_t)slot), "type")) && strcmp(t, type) == 0)
        return (long)slot;
    for (size_t i = 0; i < count; i++)
        if ((t = json_get_str(ui_node_input(n, i), "type")) && strcmp(t, type) == 0)
            return (long)i;
    return -1;
}

static const char *output_type(const ui_node *n, int64_t slot)
{
    if (!n->outputs || slot < 0 || (size_t)slot >= json_object_array_length(n->outputs))
        return NULL;
    return json_get_str(json_object_array_get_idx(n->outputs, (size_t)slot), "type");
}

/* The entry of instance inputs[] that definition input k maps to: by name when the
 * definition names it, else by position. */
static json_object *instance_input(const ui_graph *def, const ui_node *inst, int64_t k)
{
    if (k < 0)
        return NULL;
    json_object *dins = json_get(def->json, "inputs");
    const char *name = NULL;
    if (json_object_is_type(dins, json_type_array) &&
        (size_t)k < json_object_array_length(dins))
        name = json_get_str(json_object_array_get_idx(dins, (size_t)k), "name");
    json_object *at_k = ui_node_input(inst, (size_t)k);
    if (!name)
        return at_k;
    const char *kn = json_get_str(at_k, "name");
    if (kn && strcmp(kn, name) == 0)
        return at_k;
    for (size_t i = 0; i < ui_node_input_count(inst); i++) {
        json_object *in = ui_node_input(inst, i);
        const char *n = json_get_str(in, "name");
        if (n && strcmp(n, name) == 0)
            return in;
    }
    return NULL;
}

static const char *input_widget_name(json_object *input)
{
    return json_get_str(json_get(input, "widget"), "name");
}

json_object *ui_instance_proxy_values(const ui_node *inst)
{
    json_object *proxies = json_get(json_get(inst->json, "properties"), "proxyWidgets");
    if (!json_object_is_type(proxies, json_type_array) || !inst->widgets ||
        !json_object_is_type(inst->widgets, json_type_array))
        return NULL;
    size_t own = 0;
    for (size_t i = 0; i < ui_node_input_count(inst); i++)
        if (input_widget_name(ui_node_input(inst, i)))
            own++;
    size_t np = json_object_array_length(proxies);
    return (np == json_object_array_length(inst->widgets) && np > own) ? proxies : NULL;
}

json_object *ui_instance_widget_value(const ui_node *inst, json_object *input)
{
    const char *wname = input_widget_name(input);
    if (!wname || !inst->widgets)
        return NULL;
    json_object *v = NULL, *proxies;
    if (json_object_is_type(inst->widgets, json_type_object)) {
        v = json_get(inst->widgets, wname);
    } else if ((proxies = ui_instance_proxy_values(inst))) {
        /* One value per proxyWidgets entry: the instance's own ones are ["-1", name]. */
        for (size_t j = 0; j < json_object_array_length(proxies); j++) {
            json_object *p = json_object_array_get_idx(proxies, j);
            char who[UI_ID_MAX];
            json_object *pn = json_object_is_type(p, json_type_array) &&
                              json_object_array_length(p) >= 2
                                  ? json_object_array_get_idx(p, 1) : NULL;
            if (pn && json_object_is_type(pn, json_type_string) &&
                strcmp(json_object_get_string(pn), wname) == 0 &&
                ui_id(json_object_array_get_idx(p, 0), who) == UI_ID_OK &&
                strcmp(who, "-1") == 0) {
                v = json_object_array_get_idx(inst->widgets, j);
                break;
            }
        }
    } else {
        /* The instance's own widgets, one per widget-bearing input, in input order. */
        size_t pos = 0;
        for (size_t i = 0; i < ui_node_input_count(inst); i++) {
            json_object *in = ui_node_input(inst, i);
            const char *w = input_widget_name(in);
            if (!w)
                continue;
            if (in == input) {
                if (pos < json_object_array_length(inst->widgets))
                    v = json_object_array_get_idx(inst->widgets, pos);
                break;
            }
            pos++;
        }
    }
    return (v && !json_object_is_type(v, json_type_null)) ? v : NULL;
}

/* ---- the walk ------------------------------------------------------------------------ */

typedef struct scope_pool {
    ui_scope **items;
    size_t     n;
} scope_pool;

static void pool_free(scope_pool *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i]->prefix);
        free(p->items[i]);
    }
    free(p->items);
}

static ui_scope *pool_enter(ui_conv *c, scope_pool *p, const ui_scope *parent,
                            const ui_graph *g, const ui_node *inst)
{
    ui_scope **grown = realloc(p->items, (p->n + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    p->items = grown;
    ui_scope *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->prefix = ui_prefix_join(parent->prefix, inst->id);
    if (!s->prefix) {
        free(s);
        return NULL;
    }
    s->parent = parent;
    s->graph = g;
    s->instance = inst;
    s->depth = parent->depth + 1;
    p->items[p->n++] = s;
    (void)c;
    return s;
}

int ui_resolve_link(ui_conv *c, const ui_scope *start, const char *link_id,
                    const char *consumer_type, ui_res *res)
{
    memset(res, 0, sizeof *res);
    scope_pool pool = {0};
    const ui_scope *sc = start;
    char cur[UI_ID_MAX];
    snprintf(cur, sizeof cur, "%s", link_id);
    int rc = LOOM_OK;

    for (int hops = 0;; hops++) {
        if (hops >= UI_MAX_HOPS) {
            rc = loom_errorf(c->err, LOOM_ERR_INVALID,
                             "link %s in %s: more than %d steps through Reroute, bypassed and "
                             "subgraph nodes (a cycle?)", link_id, start->graph->label,
                             UI_MAX_HOPS);
            break;
        }
        const ui_link *l = ui_graph_link(sc->graph, cur);
        if (!l)
            break;  /* dangling: the frontend drops it too */

        if (strcmp(l->origin, UI_SUBGRAPH_INPUT_ID) == 0) {
            /* Subgraph input k = the instance's k-th input, one scope up. */
            if (!sc->instance)
                break;
            json_object *in = instance_input(sc->graph, sc->instance, l->origin_slot);
            if (!in)
                break;
            if (ui_id(json_get(in, "link"), cur) == UI_ID_OK) {
                sc = sc->parent;
                continue;
            }
            json_object *v = ui_instance_widget_value(sc->instance, in);
            if (v) {
                res->kind = UI_RES_CONST;
                res->value = v;
            }
            break;
        }

        const ui_node *n = ui_graph_node(sc->graph, l->origin);
        if (!n)
            break;

        ui_virtual_kind vk = virtual_kind(c->reg, n->type);
        if (vk == UI_VIRT_PASSTHROUGH) {
            if (!input_link(n, 0, cur))
                break;
            continue;
        }
        if (vk == UI_VIRT_PRIMITIVE) {
            json_object *v = first_widget(n);
            if (v && !json_object_is_type(v, json_type_null)) {
                res->kind = UI_RES_CONST;
                res->value = v;
            }
            break;
        }
        if (vk == UI_VIRT_GET) {
            const ui_node *set = find_set_node(c, sc->graph, n);
            if (!set || !input_link(set, 0, cur))
                break;
            continue;
        }
        if (vk == UI_VIRT_INERT)
            break;

        if (n->mode == UI_MODE_NEVER) {
            res->kind = UI_RES_DROP;
            break;
        }
        if (n->mode == UI_MODE_BYPASS) {
            const char *type = output_type(n, l->origin_slot);
            if (!type)
                type = l->type ? l->type : consumer_type;
            long idx = bypass_input(n, l->origin_slot, type);
            if (idx < 0 || !input_link(n, (size_t)idx, cur))
                break;  /* no matching input: the link disappears */
            continue;
        }

        const ui_graph *def;
        if ((rc = ui_conv_subgraph(c, n->type, &def)))
            break;
        if (def) {
            /* Output k of an instance = whatever feeds output node -20 slot k inside. */
            if ((rc = ui_scope_check_enter(c, sc, def, n->id)))
                break;
            const ui_link *inner = ui_graph_output_link(def, l->origin_slot);
            if (!inner)
                break;
            ui_scope *child = pool_enter(c, &pool, sc, def, n);
            if (!child) {
                rc = loom_errorf(c->err, LOOM_ERR_NOMEM, "out of memory resolving link %s",
                                 link_id);
                break;
            }
            sc = child;
            snprintf(cur, sizeof cur, "%s", inner->id);
            continue;
        }

        if (l->origin_slot < 0)
            break;
        size_t plen = strlen(sc->prefix), ilen = strlen(n->id);
        res->node_id = malloc(plen + ilen + 1);
        if (!res->node_id) {
            rc = loom_errorf(c->err, LOOM_ERR_NOMEM, "out of memory resolving link %s", link_id);
            break;
        }
        memcpy(res->node_id, sc->prefix, plen);
        memcpy(res->node_id + plen, n->id, ilen + 1);
        res->kind = UI_RES_LINK;
        res->slot = l->origin_slot;
        break;
    }
    pool_free(&pool);
    if (rc)
        ui_res_clear(res);
    return rc;
}
