/* workflow_ui_graph.c: indexing one UI graph (top-level workflow or subgraph definition).
 *
 * A UI graph is untrusted JSON: every field may be missing or of the wrong type, and ids
 * may be integers, integral floats or strings. Building a ui_graph checks the shape once
 * (so the converter proper can assume it) and normalises every id to text, so that node
 * 5, "5" and 5.0 are one node. Links come in two shapes, the schema-0.4 array
 * [id, origin_id, origin_slot, target_id, target_slot, type] and the schema-1 object
 * {id, origin_id, ...}; both are read into the same ui_link. Lookups go through strmaps
 * (id -> entry; the entry arrays are allocated once, so the pointers stay valid). What is structurally wrong (a node that is not
 * an object, a node without id or type, a duplicate id, a malformed link, too many nodes)
 * is rejected with a message naming the node or link; what only dangles (a link to a node
 * that does not exist) is kept and later resolves to nothing, as in the frontend.
 */
#include "workflow_ui.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integral doubles below 2^53 are exact; beyond that an "id" or "slot" is nonsense. */
#define UI_MAX_EXACT_DOUBLE 9007199254740992.0

ui_id_status ui_id(json_object *v, char buf[UI_ID_MAX])
{
    buf[0] = '\0';
    if (!v || json_object_is_type(v, json_type_null))
        return UI_ID_ABSENT;
    switch (json_object_get_type(v)) {
    case json_type_int: {
        /* Plain serialisation prints the exact digits, uint64 included. */
        const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        if (!s || strlen(s) >= UI_ID_MAX)
            return UI_ID_BAD;
        strcpy(buf, s);
        return UI_ID_OK;
    }
    case json_type_double: {
        double d = json_object_get_double(v);
        if (!isfinite(d) || d != floor(d) || fabs(d) >= UI_MAX_EXACT_DOUBLE)
            return UI_ID_BAD;
        snprintf(buf, UI_ID_MAX, "%lld", (long long)d);
        return UI_ID_OK;
    }
    case json_type_string: {
        const char *s = json_object_get_string(v);
        size_t len = strlen(s);
        if (len == 0 || len >= UI_ID_MAX)
            return UI_ID_BAD;
        memcpy(buf, s, len + 1);
        return UI_ID_OK;
    }
    default:
        return UI_ID_BAD;
    }
}

bool ui_int(json_object *v, int64_t *out)
{
    if (json_object_is_type(v, json_type_int)) {
        /* uint64 values above INT64_MAX clamp; no slot or mode is that large. */
        *out = json_object_get_int64(v);
        return true;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (!isfinite(d) || d != floor(d) || fabs(d) >= UI_MAX_EXACT_DOUBLE)
            return false;
        *out = (int64_t)d;
        return true;
    }
    return false;
}

static int build_node(ui_graph *g, json_object *nj, size_t pos, loom_error *err)
{
    ui_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->json = nj;
    if (!json_object_is_type(nj, json_type_object))
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: nodes[%zu] is not an object",
                           g->label, pos);
    switch (ui_id(json_get(nj, "id"), n->id)) {
    case UI_ID_OK:
        break;
    case UI_ID_ABSENT:
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: nodes[%zu] has no id", g->label, pos);
    default:
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "%s: nodes[%zu] has an invalid id (expected an integer or a "
                           "short string)", g->label, pos);
    }
    if (strmap_has(&g->node_index, n->id))
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: two nodes have id %s", g->label, n->id);

    n->type = json_get_str(nj, "type");
    if (!n->type || !n->type[0])
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: node %s has no 'type'", g->label, n->id);

    json_object *mode = json_get(nj, "mode");
    int64_t m = UI_MODE_ALWAYS;
    if (mode && !json_object_is_type(mode, json_type_null) && !ui_int(mode, &m))
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: node %s: 'mode' must be an integer",
                           g->label, n->id);
    n->mode = (m < 0 || m > 16) ? -1 : (int)m;
    if (n->mode < 0)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: node %s: unknown mode %" PRId64,
                           g->label, n->id, m);

    n->inputs = json_get(nj, "inputs");
    if (n->inputs && json_object_is_type(n->inputs, json_type_null))
        n->inputs = NULL;
    if (n->inputs && !json_object_is_type(n->inputs, json_type_array))
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: node %s: 'inputs' must be an array",
                           g->label, n->id);
    n->outputs = json_get(nj, "outputs");
    if (n->outputs && !json_object_is_type(n->outputs, json_type_array))
        n->outputs = NULL;  /* only consulted for bypass types: harmless to ignore */
    n->widgets = json_get(nj, "widgets_values");
    if (n->widgets && json_object_is_type(n->widgets, json_type_null))
        n->widgets = NULL;
    if (n->widgets && !json_object_is_type(n->widgets, json_type_array) &&
        !json_object_is_type(n->widgets, json_type_object))
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "%s: node %s: 'widgets_values' must be an array or an object",
                           g->label, n->id);
    if (strmap_put(&g->node_index, n->id, n) != 0)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory indexing %s", g->label);
    g->n_nodes++;
    return LOOM_OK;
}

static int link_id_field(const ui_graph *g, size_t pos, const char *link_id, const char *what,
                         json_object *v, char buf[UI_ID_MAX], loom_error *err)
{
    if (ui_id(v, buf) == UI_ID_OK)
        return LOOM_OK;
    return loom_errorf(err, LOOM_ERR_INVALID, "%s: links[%zu]%s%s: '%s' is missing or invalid",
                       g->label, pos, link_id[0] ? " id " : "", link_id, what);
}

static int build_link(ui_graph *g, json_object *lj, size_t pos, loom_error *err)
{
    ui_link *l = &g->links[g->n_links];
    memset(l, 0, sizeof *l);
    json_object *f[6] = {0};
    static const char *const names[6] = {"id", "origin_id", "origin_slot", "target_id",
                                         "target_slot", "type"};
    if (json_object_is_type(lj, json_type_array)) {
        size_t len = json_object_array_length(lj);
        if (len < 5)
            return loom_errorf(err, LOOM_ERR_INVALID,
                               "%s: links[%zu] must be [id, origin_id, origin_slot, "
                               "target_id, target_slot, type]", g->label, pos);
        for (size_t i = 0; i < 6 && i < len; i++)
            f[i] = json_object_array_get_idx(lj, i);
    } else if (json_object_is_type(lj, json_type_object)) {
        for (size_t i = 0; i < 6; i++)
            f[i] = json_get(lj, names[i]);
    } else {
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "%s: links[%zu] is neither an array nor a link object", g->label, pos);
    }
    int rc;
    if ((rc = link_id_field(g, pos, "", "id", f[0], l->id, err)) ||
        (rc = link_id_field(g, pos, l->id, "origin_id", f[1], l->origin, err)) ||
        (rc = link_id_field(g, pos, l->id, "target_id", f[3], l->target, err)))
        return rc;
    if (!ui_int(f[2], &l->origin_slot) || !ui_int(f[4], &l->target_slot))
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "%s: link %s: origin_slot and target_slot must be integers",
                           g->label, l->id);
    l->type = json_object_is_type(f[5], json_type_string) ? json_object_get_string(f[5]) : NULL;
    if (strmap_has(&g->link_index, l->id))
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: two links have id %s", g->label, l->id);
    if (strmap_put(&g->link_index, l->id, l) != 0)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory indexing %s", g->label);
    g->n_links++;
    return LOOM_OK;
}

int ui_graph_build(ui_graph *g, json_object *gj, const char *label, const char *uuid,
                   loom_error *err)
{
    memset(g, 0, sizeof *g);
    snprintf(g->label, sizeof g->label, "%s", label);
    snprintf(g->uuid, sizeof g->uuid, "%s", uuid ? uuid : "");
    g->json = gj;

    json_object *nodes = json_get(gj, "nodes");
    if (!json_object_is_type(nodes, json_type_array))
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: 'nodes' must be an array", label);
    size_t n = json_object_array_length(nodes);
    if (n > UI_MAX_NODES)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: %zu nodes, more than the limit of %d",
                           label, n, UI_MAX_NODES);
    if (n && !(g->nodes = calloc(n, sizeof *g->nodes)))
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory indexing %s", label);
    for (size_t i = 0; i < n; i++) {
        int rc = build_node(g, json_object_array_get_idx(nodes, i), i, err);
        if (rc)
            return rc;
    }

    json_object *links = json_get(gj, "links");
    if (links && json_object_is_type(links, json_type_null))
        links = NULL;
    if (links && !json_object_is_type(links, json_type_array))
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: 'links' must be an array", label);
    size_t nl = links ? json_object_array_length(links) : 0;
    if (nl > UI_MAX_LINKS)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: %zu links, more than the limit of %d",
                           label, nl, UI_MAX_LINKS);
    if (nl && !(g->links = calloc(nl, sizeof *g->links)))
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory indexing %s", label);
    for (size_t i = 0; i < nl; i++) {
        int rc = build_link(g, json_object_array_get_idx(links, i), i, err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

void ui_graph_clear(ui_graph *g)
{
    if (!g)
        return;
    free(g->nodes);
    free(g->links);
    strmap_free(&g->node_index);
    strmap_free(&g->link_index);
    memset(g, 0, sizeof *g);
}

const ui_node *ui_graph_node(const ui_graph *g, const char *id)
{
    return strmap_get(&g->node_index, id);
}

const ui_link *ui_graph_link(const ui_graph *g, const char *id)
{
    return strmap_get(&g->link_index, id);
}

const ui_link *ui_graph_output_link(const ui_graph *g, int64_t slot)
{
    for (size_t i = 0; i < g->n_links; i++)
        if (g->links[i].target_slot == slot &&
            strcmp(g->links[i].target, UI_SUBGRAPH_OUTPUT_ID) == 0)
            return &g->links[i];
    return NULL;
}

size_t ui_node_input_count(const ui_node *n)
{
    return n->inputs ? json_object_array_length(n->inputs) : 0;
}

json_object *ui_node_input(const ui_node *n, size_t i)
{
    if (i >= ui_node_input_count(n))
        return NULL;
    json_object *in = json_object_array_get_idx(n->inputs, i);
    return json_object_is_type(in, json_type_object) ? in : NULL;
}

char *ui_prefix_join(const char *prefix, const char *id)
{
    size_t a = strlen(prefix), b = strlen(id);
    char *s = malloc(a + b + 2);
    if (!s)
        return NULL;
    memcpy(s, prefix, a);
    memcpy(s + a, id, b);
    s[a + b] = ':';
    s[a + b + 1] = '\0';
    return s;
}

int ui_conv_subgraph(ui_conv *c, const char *type, const ui_graph **out)
{
    *out = strmap_get(&c->graphs, type);
    if (*out)
        return LOOM_OK;
    json_object *def = strmap_get(&c->defs, type);
    if (!def)
        return LOOM_OK;  /* not a subgraph */
    ui_graph *g = calloc(1, sizeof *g);
    if (!g || strmap_put(&c->graphs, type, g) != 0) {
        free(g);
        return loom_errorf(c->err, LOOM_ERR_NOMEM, "out of memory preparing subgraph %s", type);
    }
    /* Owned by c->graphs from here on, even when building fails. */
    char label[160];
    const char *name = json_get_str(def, "name");
    snprintf(label, sizeof label, "subgraph '%.60s' (%.40s)", name ? name : "?", type);
    int rc = ui_graph_build(g, def, label, type, c->err);
    if (rc)
        return rc;
    *out = g;
    return LOOM_OK;
}

int ui_scope_check_enter(ui_conv *c, const ui_scope *sc, const ui_graph *g, const char *via)
{
    for (const ui_scope *s = sc; s; s = s->parent)
        if (s->graph == g)
            return loom_errorf(c->err, LOOM_ERR_INVALID,
                               "%s contains itself (through node %s%s); recursive subgraphs "
                               "cannot be flattened", g->label, sc->prefix, via);
    if (sc->depth + 1 > UI_MAX_SUBGRAPH_DEPTH)
        return loom_errorf(c->err, LOOM_ERR_INVALID,
                           "node %s%s: subgraphs nested more than %d deep", sc->prefix, via,
                           UI_MAX_SUBGRAPH_DEPTH);
    return LOOM_OK;
}
