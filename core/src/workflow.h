/* workflow.h: the in-memory workflow, in ComfyUI's API ("prompt") form.
 *
 * The graph is kept as the JSON object itself: {"<id>": {"class_type", "inputs", "_meta"}}.
 * That keeps unknown keys, `__value__` wrappers and big integers exactly as they came,
 * and makes saving lossless. `ui` holds the UI workflow the prompt came from (or NULL);
 * writers embed it so a file dropped on ComfyUI restores the graph.
 */
#ifndef LOOM_WORKFLOW_H
#define LOOM_WORKFLOW_H

#include <json-c/json.h>

#include "loom/loom.h"
#include "registry.h"

struct loom_workflow {
    json_object *prompt;   /* API form, owned */
    json_object *ui;       /* UI form or NULL, owned */
};

/* A link is a 2-element array [string node id, integer slot] (a float slot is accepted). */
bool link_parse(json_object *v, const char **from_id, int *slot);

/* UI ("workflow") JSON -> API ("prompt") JSON, using the registry for widget order.
 * Follows the frontend's graphToPrompt rules: subgraphs flattened to "a:b" ids, bypassed
 * nodes rerouted, muted and virtual nodes dropped, Reroute and PrimitiveNode resolved. */
int  workflow_ui_to_api(const registry *reg, json_object *ui, json_object **out,
                        loom_error *err);
/* True when root looks like the UI format (has a "nodes" array). */
bool workflow_is_ui(json_object *root);

#endif
