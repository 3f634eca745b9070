/* workflow_ui.c: ComfyUI UI ("workflow") JSON -> API ("prompt") JSON.
 *
 * This is the frontend's graphToPrompt done on the server side, with the node registry
 * standing in for the frontend's widget list. The walk: index the top-level graph and
 * every subgraph definition it instantiates (workflow_ui_graph.c); visit nodes in file
 * order, entering subgraph instances depth-first with the id prefix "<instance>:"; skip
 * muted (mode 2), bypassed (mode 4) and virtual nodes; for every other node write
 *   1. its widget values: the registry's inputs in declared order, each widget input
 *      taking the next widgets_values entry (plus one hidden entry after a seed-like INT
 *      for control_after_generate and one after an image-upload COMBO); an object-form
 *      widgets_values is read by name; arrays are wrapped as {"__value__": [...]};
 *   2. its linked inputs, each followed through Reroutes, bypassed nodes and subgraph
 *      boundaries (workflow_ui_resolve.c) to a real [id, slot], a constant, nothing, or a
 *      muted source (which removes the input, as the frontend does);
 * and finally delete every link whose source was not emitted.
 *
 * Invariants: values are deep-copied out of the UI JSON (never through double), so a
 * seed of 18446744073709551615 and a float written as 8.000000000000002 survive exactly;
 * the UI JSON is never modified; every rejection names the graph and the node or link.
 * Node classes the registry does not know are emitted with their links only, for the
 * validator to report.
 */
#include "workflow.h"
#include "workflow_ui.h"

#include <stdlib.h>
#include <string.h>

/* Deep copy of a widget value; arrays are wrapped as {"__value__": [...]}. */
static json_object *copy_value(json_object *v)
{
    json_object *dst = json_copy(v);
    if (dst && json_object_is_type(dst, json_type_array)) {
        json_object *w = json_object_new_object();
        if (!w) {
            json_object_put(dst);
            return NULL;
        }
        json_object_object_add(w, "__value__", dst);
        return w;
    }
    return dst;
}

static int set_value(ui_conv *c, json_object *inputs, const char *name, json_object *v,
                     const char *node_id)
{
    json_object *copy = copy_value(v);
    if (!copy)
        return loom_errorf(c->err, LOOM_ERR_NOMEM, "node %s: out of memory copying '%s'",
                           node_id, name);
    json_object_object_add(inputs, name, copy);
    return LOOM_OK;
}

/* Step 1: widgets_values -> constant inputs, in the registry's declared order. */
static int apply_widgets(ui_conv *c, const ui_node *n, const loom_node_type *t,
                         json_object *inputs, const char *node_id)
{
    if (!n->widgets)
        return LOOM_OK;
    bool by_name = json_object_is_type(n->widgets, json_type_object);
    size_t len = by_name ? 0 : json_object_array_length(n->widgets);
    size_t next = 0;
    for (size_t i = 0; i < t->n_inputs; i++) {
        const loom_input *in = &t->inputs[i];
        if (!in->name || !input_is_widget(in))
            continue;
        json_object *v;
        if (by_name) {
            v = json_get(n->widgets, in->name);
        } else {
            if (next >= len)
                break;  /* fewer values than widgets: the rest keep their defaults */
            v = json_object_array_get_idx(n->widgets, next++);
            if (input_has_control_widget(in))
                next++;  /* control_after_generate: "randomize", "fixed", ... */
            if (input_is_combo(in) && (in->flags & LOOM_IN_UPLOAD_IMAGE))
                next++;  /* the "upload" button's value */
        }
        if (!v || json_object_is_type(v, json_type_null))
            continue;
        int rc = set_value(c, inputs, in->name, v, node_id);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

/* Values an instance carries for its inner nodes' promoted widgets (proxyWidgets
 * entries [inner_id, widget_name] with one widgets_values entry each). */
static int apply_proxy_values(ui_conv *c, const ui_scope *sc, const ui_node *n,
                              const loom_node_type *t, json_object *inputs,
                              const char *node_id)
{
    json_object *proxies = sc->instance ? ui_instance_proxy_values(sc->instance) : NULL;
    if (!proxies)
        return LOOM_OK;
    for (size_t j = 0; j < json_object_array_length(proxies); j++) {
        json_object *p = json_object_array_get_idx(proxies, j);
        if (!json_object_is_type(p, json_type_array) || json_object_array_length(p) < 2)
            continue;
        char who[UI_ID_MAX];
        json_object *wn = json_object_array_get_idx(p, 1);
        if (ui_id(json_object_array_get_idx(p, 0), who) != UI_ID_OK ||
            strcmp(who, n->id) != 0 || !json_object_is_type(wn, json_type_string))
            continue;
        const loom_input *in = node_find_input(t, json_object_get_string(wn));
        json_object *v = json_object_array_get_idx(sc->instance->widgets, j);
        if (!in || !input_is_widget(in) || !v || json_object_is_type(v, json_type_null))
            continue;
        int rc = set_value(c, inputs, in->name, v, node_id);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

/* Step 2: linked inputs, resolved to their real source. */
static int apply_links(ui_conv *c, const ui_scope *sc, const ui_node *n, json_object *inputs,
                       const char *node_id)
{
    for (size_t i = 0; i < ui_node_input_count(n); i++) {
        json_object *in = ui_node_input(n, i);
        const char *name = json_get_str(in, "name");
        if (!name)
            continue;
        char lid[UI_ID_MAX];
        ui_id_status st = ui_id(json_get(in, "link"), lid);
        if (st == UI_ID_ABSENT)
            continue;
        if (st == UI_ID_BAD)
            return loom_errorf(c->err, LOOM_ERR_INVALID,
                               "node %s input '%s': the link id must be an integer", node_id,
                               name);
        ui_res r;
        int rc = ui_resolve_link(c, sc, lid, json_get_str(in, "type"), &r);
        if (rc)
            return rc;
        switch (r.kind) {
        case UI_RES_LINK: {
            json_object *link = json_object_new_array_ext(2);
            if (!link) {
                ui_res_clear(&r);
                return loom_errorf(c->err, LOOM_ERR_NOMEM, "out of memory");
            }
            json_object_array_add(link, json_object_new_string(r.node_id));
            json_object_array_add(link, json_object_new_int64(r.slot));
            json_object_object_add(inputs, name, link);
            break;
        }
        case UI_RES_CONST:
            rc = set_value(c, inputs, name, r.value, node_id);
            break;
        case UI_RES_DROP:
            json_object_object_del(inputs, name);
            break;
        case UI_RES_NONE:
            break;
        }
        ui_res_clear(&r);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

static int emit_node(ui_conv *c, const ui_scope *sc, const ui_node *n)
{
    size_t plen = strlen(sc->prefix), ilen = strlen(n->id);
    char *id = malloc(plen + ilen + 1);
    json_object *node = json_object_new_object();
    json_object *inputs = json_object_new_object();
    json_object *meta = json_object_new_object();
    int rc = LOOM_OK;
    if (!id || !node || !inputs || !meta) {
        rc = loom_errorf(c->err, LOOM_ERR_NOMEM, "out of memory converting node %s", n->id);
        goto fail;
    }
    memcpy(id, sc->prefix, plen);
    memcpy(id + plen, n->id, ilen + 1);
    if (json_get(c->out, id)) {
        rc = loom_errorf(c->err, LOOM_ERR_INVALID,
                         "%s: node %s flattens to id '%s', which another node already has",
                         sc->graph->label, n->id, id);
        goto fail;
    }

    const loom_node_type *t = registry_find(c->reg, n->type);
    if (t && ((rc = apply_widgets(c, n, t, inputs, id)) ||
              (rc = apply_proxy_values(c, sc, n, t, inputs, id))))
        goto fail;
    if ((rc = apply_links(c, sc, n, inputs, id)))
        goto fail;

    const char *title = json_get_str(n->json, "title");
    if (!title)
        title = (t && t->display_name) ? t->display_name : n->type;
    json_object_object_add(meta, "title", json_object_new_string(title));
    json_object_object_add(node, "inputs", inputs);
    json_object_object_add(node, "class_type", json_object_new_string(n->type));
    json_object_object_add(node, "_meta", meta);
    json_object_object_add(c->out, id, node);
    free(id);
    return LOOM_OK;
fail:
    free(id);
    json_object_put(node);
    json_object_put(inputs);
    json_object_put(meta);
    return rc;
}

static int emit_graph(ui_conv *c, const ui_scope *sc)
{
    for (size_t i = 0; i < sc->graph->n_nodes; i++) {
        const ui_node *n = &sc->graph->nodes[i];
        if (++c->expanded > UI_MAX_EXPANDED_NODES)
            return loom_errorf(c->err, LOOM_ERR_INVALID,
                               "workflow expands to more than %d nodes (subgraphs instantiated "
                               "inside subgraphs?)", UI_MAX_EXPANDED_NODES);
        if (n->mode == UI_MODE_NEVER || n->mode == UI_MODE_BYPASS)
            continue;
        if (ui_type_is_virtual(c->reg, n->type))
            continue;
        const ui_graph *def;
        int rc = ui_conv_subgraph(c, n->type, &def);
        if (rc)
            return rc;
        if (def) {
            if ((rc = ui_scope_check_enter(c, sc, def, n->id)))
                return rc;
            ui_scope child = {sc, def, n, ui_prefix_join(sc->prefix, n->id), sc->depth + 1};
            if (!child.prefix)
                return loom_errorf(c->err, LOOM_ERR_NOMEM, "out of memory expanding node %s",
                                   n->id);
            rc = emit_graph(c, &child);
            free(child.prefix);
        } else {
            rc = emit_node(c, sc, n);
        }
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

/* Remember every subgraph definition by uuid (nested "definitions" too; first wins). */
static int collect_defs(ui_conv *c, json_object *holder, int depth)
{
    json_object *subs = json_get(json_get(holder, "definitions"), "subgraphs");
    if (!subs || json_object_is_type(subs, json_type_null))
        return LOOM_OK;
    if (!json_object_is_type(subs, json_type_array))
        return loom_errorf(c->err, LOOM_ERR_INVALID, "definitions.subgraphs must be an array");
    if (depth > UI_MAX_SUBGRAPH_DEPTH)
        return loom_errorf(c->err, LOOM_ERR_INVALID,
                           "subgraph definitions nested more than %d deep",
                           UI_MAX_SUBGRAPH_DEPTH);
    for (size_t i = 0; i < json_object_array_length(subs); i++) {
        json_object *def = json_object_array_get_idx(subs, i);
        const char *uuid = json_get_str(def, "id");
        if (!uuid || !uuid[0])
            return loom_errorf(c->err, LOOM_ERR_INVALID,
                               "definitions.subgraphs[%zu] has no string 'id'", i);
        if (strlen(uuid) >= UI_ID_MAX)
            return loom_errorf(c->err, LOOM_ERR_INVALID,
                               "definitions.subgraphs[%zu]: id is longer than %d characters",
                               i, UI_ID_MAX - 1);
        if (strmap_has(&c->defs, uuid))
            continue;
        if (c->defs.len >= UI_MAX_SUBGRAPHS)
            return loom_errorf(c->err, LOOM_ERR_INVALID,
                               "more than %d subgraph definitions", UI_MAX_SUBGRAPHS);
        if (strmap_put(&c->defs, uuid, def) != 0)
            return loom_errorf(c->err, LOOM_ERR_NOMEM, "out of memory reading subgraphs");
        int rc = collect_defs(c, def, depth + 1);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

/* The frontend's last step: a link to a node that was not emitted is deleted. */
static void prune_dangling(json_object *out)
{
    json_object_object_foreach(out, id, node) {
        (void)id;
        json_object *inputs = json_get(node, "inputs");
        if (!inputs)
            continue;
        for (;;) {
            const char *victim = NULL;
            json_object_object_foreach(inputs, name, v) {
                if (json_object_is_type(v, json_type_array) &&
                    json_object_array_length(v) == 2) {
                    json_object *src = json_object_array_get_idx(v, 0);
                    if (json_object_is_type(src, json_type_string) &&
                        !json_get(out, json_object_get_string(src))) {
                        victim = name;
                        break;
                    }
                }
            }
            if (!victim)
                break;
            json_object_object_del(inputs, victim);
        }
    }
}

int workflow_ui_to_api(const registry *reg, json_object *ui, json_object **out,
                       loom_error *err)
{
    *out = NULL;
    if (!workflow_is_ui(ui))
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "not a ComfyUI UI workflow: there is no 'nodes' array");
    ui_conv c = {0};
    c.reg = reg;
    c.err = err;
    c.out = json_object_new_object();
    ui_graph top;
    memset(&top, 0, sizeof top);
    char empty[1] = "";
    ui_scope root = {NULL, &top, NULL, empty, 0};
    int rc;
    if (!c.out) {
        rc = loom_errorf(err, LOOM_ERR_NOMEM, "out of memory converting the workflow");
        goto done;
    }
    if ((rc = collect_defs(&c, ui, 0)))
        goto done;
    if ((rc = ui_graph_build(&top, ui, "workflow", NULL, err)))
        goto done;
    if ((rc = emit_graph(&c, &root)))
        goto done;
    prune_dangling(c.out);
    *out = c.out;
    c.out = NULL;
done:
    ui_graph_clear(&top);
    const char *key;
    void *g;
    for (size_t it = 0; strmap_next(&c.graphs, &it, &key, &g);) {
        ui_graph_clear(g);
        free(g);
    }
    strmap_free(&c.graphs);
    strmap_free(&c.defs);
    json_object_put(c.out);
    return rc;
}
