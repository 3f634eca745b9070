/* workflow_ui.h: private to the UI -> API converter (workflow_ui*.c).
 *
 * The converter first indexes every graph it touches (the top-level workflow and each
 * subgraph definition it instantiates) into a ui_graph: nodes and links with their ids
 * normalised to strings ("5", 5 and 5.0 are the same node), looked up through strmaps.
 * Nothing in a ui_graph is copied out of the UI JSON except
 * the ids; the JSON must outlive the conversion.
 *
 * A ui_scope is one level of subgraph nesting while the converter walks: the graph whose
 * nodes are being looked at, the instance node that embeds it (in the parent scope's
 * graph) and the prefix ("114:" or "114:5:") that turns a local id into an API id.
 * Scopes form a parent chain; the chain is also how recursion is detected (a subgraph
 * that appears twice on its own chain instantiates itself).
 */
#ifndef LOOM_WORKFLOW_UI_H
#define LOOM_WORKFLOW_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "json_util.h"
#include "registry.h"
#include "strmap.h"

/* ---- limits: every one has a reason ----------------------------------------------- */

/* Longest node or link id accepted in one graph. The frontend writes small integers;
 * 64 leaves room for string ids while keeping flattened "a:b:c" ids short. */
#define UI_ID_MAX 64
/* Nodes in one graph (top level or one subgraph definition). The largest real ComfyUI
 * workflows have a few hundred nodes; 10000 is far beyond them and still cheap. */
#define UI_MAX_NODES 10000
/* Links in one graph: a node rarely has more than 10 inputs. */
#define UI_MAX_LINKS 100000
/* Subgraph definitions in one file. */
#define UI_MAX_SUBGRAPHS 1000
/* Subgraphs inside subgraphs. The frontend has no limit, but people nest two or three
 * levels; 16 keeps flattened ids under ~1 KiB and the C recursion shallow. */
#define UI_MAX_SUBGRAPH_DEPTH 16
/* Nodes visited while flattening, all instances together. A definition with 100
 * instances of one with 100 instances of ... grows exponentially; this stops a small
 * hostile file from expanding into millions of nodes. */
#define UI_MAX_EXPANDED_NODES 200000
/* Steps taken to resolve one input through Reroutes, bypassed nodes, Get/Set pairs and
 * subgraph boundaries. Real chains are a handful of steps; more means a cycle. */
#define UI_MAX_HOPS 4096

/* The frontend's pseudo-node ids inside a subgraph definition. */
#define UI_SUBGRAPH_INPUT_ID  "-10"
#define UI_SUBGRAPH_OUTPUT_ID "-20"

/* litegraph node modes. 1 and 3 (event modes) run like 0. */
#define UI_MODE_ALWAYS 0
#define UI_MODE_NEVER  2   /* "muted": not sent, links from it vanish */
#define UI_MODE_BYPASS 4   /* transparent: consumers take its matching input */

typedef struct ui_node {
    json_object *json;
    char         id[UI_ID_MAX];
    const char  *type;
    int          mode;
    json_object *inputs;    /* array or NULL */
    json_object *outputs;   /* array or NULL */
    json_object *widgets;   /* widgets_values: array, object or NULL */
} ui_node;

typedef struct ui_link {
    char        id[UI_ID_MAX];
    char        origin[UI_ID_MAX];
    int64_t     origin_slot;
    char        target[UI_ID_MAX];
    int64_t     target_slot;
    const char *type;       /* may be NULL */
} ui_link;

typedef struct ui_graph {
    char         label[160];  /* "workflow" or "subgraph 'name' (uuid)", for messages */
    char         uuid[UI_ID_MAX]; /* "" for the top level */
    json_object *json;        /* borrowed */
    ui_node     *nodes;
    size_t       n_nodes;
    ui_link     *links;
    size_t       n_links;
    strmap       node_index;  /* id -> ui_node * */
    strmap       link_index;  /* id -> ui_link * */
} ui_graph;

typedef struct ui_scope {
    const struct ui_scope *parent;    /* NULL at the top level */
    const ui_graph        *graph;
    const ui_node         *instance;  /* the subgraph node in parent->graph; NULL at top */
    char                  *prefix;    /* "" at top, else parent prefix + instance id + ":" */
    int                    depth;
} ui_scope;

typedef struct ui_conv {
    const registry *reg;
    strmap          defs;         /* uuid -> json_object * definition (borrowed) */
    strmap          graphs;       /* uuid -> ui_graph * prepared definition (owned) */
    json_object    *out;          /* the API prompt being built */
    size_t          expanded;     /* nodes visited, against UI_MAX_EXPANDED_NODES */
    loom_error     *err;
} ui_conv;

/* What one input resolves to. */
typedef enum ui_res_kind {
    UI_RES_NONE,   /* nothing: leave the input as the widgets left it */
    UI_RES_LINK,   /* [node_id, slot] */
    UI_RES_CONST,  /* a constant (PrimitiveNode, promoted subgraph widget) */
    UI_RES_DROP    /* the source is muted: remove the input entirely (frontend semantics) */
} ui_res_kind;

typedef struct ui_res {
    ui_res_kind  kind;
    char        *node_id;  /* LINK: malloc'd flattened id */
    int64_t      slot;
    json_object *value;    /* CONST: borrowed from the UI JSON */
} ui_res;

/* ---- workflow_ui_graph.c: indexing ----------------------------------------------- */

typedef enum ui_id_status { UI_ID_OK, UI_ID_ABSENT, UI_ID_BAD } ui_id_status;
/* Normalise an id (integer, integral float or short string) to text. */
ui_id_status    ui_id(json_object *v, char buf[UI_ID_MAX]);
/* An integer slot or mode (integral floats accepted). */
bool            ui_int(json_object *v, int64_t *out);

/* Index graph_json (an object with "nodes" and "links"). */
int             ui_graph_build(ui_graph *g, json_object *graph_json, const char *label,
                               const char *uuid, loom_error *err);
void            ui_graph_clear(ui_graph *g);
const ui_node  *ui_graph_node(const ui_graph *g, const char *id);
const ui_link  *ui_graph_link(const ui_graph *g, const char *id);
/* The link feeding a subgraph definition's output `slot` (target -20). */
const ui_link  *ui_graph_output_link(const ui_graph *g, int64_t slot);
/* Entry i of a node's inputs[] when it is an object, else NULL. */
json_object    *ui_node_input(const ui_node *n, size_t i);
size_t          ui_node_input_count(const ui_node *n);

/* The prepared definition for a node type when it names a subgraph, else NULL.
 * Returns non-zero (err filled) when the definition exists but is malformed. */
int             ui_conv_subgraph(ui_conv *c, const char *type, const ui_graph **out);
/* Check that entering graph g below scope sc stays within the depth limit and does not
 * instantiate a subgraph inside itself. via is the instance's flattened id. */
int             ui_scope_check_enter(ui_conv *c, const ui_scope *sc, const ui_graph *g,
                                     const char *via);
char           *ui_prefix_join(const char *prefix, const char *id);  /* prefix+id+":" */

/* ---- workflow_ui_resolve.c: following one link to its real source ---------------- */

/* Resolve link `link_id` seen from scope sc. Fills res; returns non-zero on a hard
 * error (hop limit, subgraph recursion or depth). consumer_type may be NULL. */
int             ui_resolve_link(ui_conv *c, const ui_scope *sc, const char *link_id,
                                const char *consumer_type, ui_res *res);
void            ui_res_clear(ui_res *res);
/* Value of the promoted widget of subgraph instance `inst` (in `def`) behind the
 * instance input entry `input`; NULL when there is none. */
json_object    *ui_instance_widget_value(const ui_node *inst, json_object *input);
/* When inst's widgets_values also carries values of inner nodes' promoted widgets
 * (one value per properties.proxyWidgets entry), that proxyWidgets array; else NULL. */
json_object    *ui_instance_proxy_values(const ui_node *inst);
/* Registry-unknown node types that exist only in the frontend. */
bool            ui_type_is_virtual(const registry *reg, const char *type);

#endif
