/* workflow.c: loading, saving and editing workflows in API form (see workflow.h).
 *
 * Loading accepts a bare API prompt, a POST /prompt body ({"prompt": {...}}) or a UI
 * workflow, which is converted with the session's registry and kept for embedding.
 * Structure is checked here (every node an object with a class_type string and an
 * inputs object); meaning is checked later by validation, which reports all problems.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "session.h"
#include "strbuf.h"
#include "workflow.h"

/* A workflow with more nodes than this is rejected: the largest real graphs have a few
 * hundred; the bound keeps validation and key computation cheap on hostile input. */
#define LOOM_MAX_NODES 10000

bool workflow_is_ui(json_object *root)
{
    json_object *nodes = json_get(root, "nodes");
    return nodes && json_object_is_type(nodes, json_type_array);
}

bool link_parse(json_object *v, const char **from_id, int *slot)
{
    if (!v || !json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2)
        return false;
    json_object *id = json_object_array_get_idx(v, 0), *s = json_object_array_get_idx(v, 1);
    if (!id || !json_object_is_type(id, json_type_string))
        return false;
    if (!s || !(json_object_is_type(s, json_type_int) || json_object_is_type(s, json_type_double)))
        return false;
    double d = json_object_get_double(s);
    if (d < 0 || d > 1e6 || d != (double)(int)d)
        return false;
    if (from_id)
        *from_id = json_object_get_string(id);
    if (slot)
        *slot = (int)d;
    return true;
}

static int check_api_shape(json_object *prompt, loom_error *err)
{
    if (!json_object_is_type(prompt, json_type_object))
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "a workflow must be a JSON object (API format) or have a "
                           "\"nodes\" array (UI format)");
    if (json_object_object_length(prompt) > LOOM_MAX_NODES)
        return loom_errorf(err, LOOM_ERR_INVALID, "workflow has more than %d nodes",
                           LOOM_MAX_NODES);
    json_object_object_foreach(prompt, id, node) {
        if (!json_object_is_type(node, json_type_object))
            return loom_errorf(err, LOOM_ERR_INVALID, "node '%s' is not a JSON object", id);
        if (!json_get_str(node, "class_type"))
            return loom_errorf(err, LOOM_ERR_INVALID, "node '%s' has no \"class_type\" string",
                               id);
        json_object *inputs = json_get(node, "inputs");
        if (!inputs)
            json_object_object_add(node, "inputs", json_object_new_object());
        else if (!json_object_is_type(inputs, json_type_object))
            return loom_errorf(err, LOOM_ERR_INVALID, "node '%s' (%s): \"inputs\" is not an object",
                               id, json_get_str(node, "class_type"));
    }
    return LOOM_OK;
}

static int workflow_from_json(loom_session *s, json_object *root, loom_workflow **out,
                              loom_error *err)
{
    loom_workflow *wf = calloc(1, sizeof *wf);
    if (!wf) {
        json_object_put(root);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    }
    int rc;
    if (workflow_is_ui(root)) {
        wf->ui = root;
        rc = workflow_ui_to_api(s->reg, root, &wf->prompt, err);
    } else {
        json_object *inner = json_get(root, "prompt");
        if (inner && json_object_is_type(inner, json_type_object) && !json_get(root, "class_type")) {
            wf->prompt = json_object_get(inner);
            json_object *extra = json_get(json_get(json_get(root, "extra_data"), "extra_pnginfo"),
                                          "workflow");
            if (extra)
                wf->ui = json_object_get(extra);
            json_object_put(root);
        } else {
            wf->prompt = root;
        }
        rc = LOOM_OK;
    }
    if (rc == LOOM_OK)
        rc = check_api_shape(wf->prompt, err);
    if (rc != LOOM_OK) {
        loom_workflow_free(wf);
        return rc;
    }
    *out = wf;
    return LOOM_OK;
}

int loom_workflow_load_file(loom_session *s, const char *path, loom_workflow **out,
                            loom_error *err)
{
    json_object *root;
    int rc = json_parse_file(path, &root, err);
    if (rc)
        return rc;
    rc = workflow_from_json(s, root, out, err);
    if (rc)
        loom_error_prefix(err, "%s: ", path);
    return rc;
}

int loom_workflow_load_string(loom_session *s, const char *json, loom_workflow **out,
                              loom_error *err)
{
    json_object *root;
    int rc = json_parse_text(json, strlen(json), "workflow", &root, err);
    if (rc)
        return rc;
    return workflow_from_json(s, root, out, err);
}

loom_workflow *loom_workflow_new(void)
{
    loom_workflow *wf = calloc(1, sizeof *wf);
    if (wf && !(wf->prompt = json_object_new_object())) {
        free(wf);
        return NULL;
    }
    return wf;
}

loom_workflow *loom_workflow_clone(const loom_workflow *src)
{
    loom_workflow *wf = calloc(1, sizeof *wf);
    if (!wf)
        return NULL;
    wf->prompt = json_copy(src->prompt);
    wf->ui = src->ui ? json_copy(src->ui) : NULL;
    if (!wf->prompt || (src->ui && !wf->ui)) {
        loom_workflow_free(wf);
        return NULL;
    }
    return wf;
}

void loom_workflow_free(loom_workflow *wf)
{
    if (!wf)
        return;
    if (wf->prompt)
        json_object_put(wf->prompt);
    if (wf->ui)
        json_object_put(wf->ui);
    free(wf);
}

char *loom_workflow_to_json(const loom_workflow *wf, bool pretty)
{
    int flags = pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN;
    return strdup(json_object_to_json_string_ext(wf->prompt, flags | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Node ids sorted numerically where both are numbers, else by string. */
static int cmp_node_id(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    char *ex, *ey;
    long lx = strtol(x, &ex, 10), ly = strtol(y, &ey, 10);
    if (*x && *y && !*ex && !*ey && lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x, y);
}

size_t loom_workflow_node_count(const loom_workflow *wf)
{
    return (size_t)json_object_object_length(wf->prompt);
}

const char *loom_workflow_node_id(const loom_workflow *wf, size_t i)
{
    size_t n = loom_workflow_node_count(wf);
    if (i >= n)
        return NULL;
    const char **ids = malloc(n * sizeof *ids);
    if (!ids)
        return NULL;
    size_t k = 0;
    json_object_object_foreach(wf->prompt, id, node) {
        (void)node;
        ids[k++] = id;
    }
    qsort(ids, n, sizeof *ids, cmp_node_id);
    const char *r = ids[i];
    free(ids);
    return r;
}

static json_object *node_of(const loom_workflow *wf, const char *node_id)
{
    json_object *n = json_get(wf->prompt, node_id);
    return n && json_object_is_type(n, json_type_object) ? n : NULL;
}

const char *loom_workflow_node_class(const loom_workflow *wf, const char *node_id)
{
    return json_get_str(node_of(wf, node_id), "class_type");
}

const char *loom_workflow_node_title(const loom_workflow *wf, const char *node_id)
{
    return json_get_str(json_get(node_of(wf, node_id), "_meta"), "title");
}

const char *loom_workflow_find_node(const loom_workflow *wf, const char *id_or_title)
{
    json_object_object_foreach(wf->prompt, id, node) {
        if (strcmp(id, id_or_title) == 0)
            return id;
        (void)node;
    }
    size_t n = loom_workflow_node_count(wf);
    for (size_t i = 0; i < n; i++) {
        const char *node_id = loom_workflow_node_id(wf, i);
        const char *title = loom_workflow_node_title(wf, node_id);
        if (title && strcmp(title, id_or_title) == 0)
            return node_id;
    }
    return NULL;
}

const char *loom_workflow_add_node(loom_workflow *wf, const char *id, const char *class_type,
                                   loom_error *err)
{
    char buf[32];
    if (!class_type || !class_type[0]) {
        loom_errorf(err, LOOM_ERR_INVALID, "a node needs a class_type");
        return NULL;
    }
    if (!id) {
        long next = 1;
        json_object_object_foreach(wf->prompt, k, v) {
            (void)v;
            char *end;
            long x = strtol(k, &end, 10);
            if (!*end && x >= next)
                next = x + 1;
        }
        snprintf(buf, sizeof buf, "%ld", next);
        id = buf;
    }
    if (node_of(wf, id)) {
        loom_errorf(err, LOOM_ERR_INVALID, "node id '%s' is already used", id);
        return NULL;
    }
    json_object *node = json_object_new_object();
    json_object_object_add(node, "inputs", json_object_new_object());
    json_object_object_add(node, "class_type", json_object_new_string(class_type));
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "title", json_object_new_string(class_type));
    json_object_object_add(node, "_meta", meta);
    json_object_object_add(wf->prompt, id, node);
    json_object_object_foreach(wf->prompt, k2, v2) {
        (void)v2;
        if (strcmp(k2, id) == 0)
            return k2;
    }
    return NULL;
}

int loom_workflow_remove_node(loom_workflow *wf, const char *node_id, loom_error *err)
{
    if (!node_of(wf, node_id))
        return loom_errorf(err, LOOM_ERR_NOT_FOUND, "no node '%s' in the workflow", node_id);
    json_object_object_del(wf->prompt, node_id);
    return LOOM_OK;
}

static json_object *inputs_of(loom_workflow *wf, const char *node_id, loom_error *err)
{
    json_object *node = node_of(wf, node_id);
    if (!node) {
        loom_errorf(err, LOOM_ERR_NOT_FOUND, "no node '%s' in the workflow", node_id);
        return NULL;
    }
    json_object *inputs = json_get(node, "inputs");
    if (!inputs || !json_object_is_type(inputs, json_type_object)) {
        inputs = json_object_new_object();
        json_object_object_add(node, "inputs", inputs);
    }
    return inputs;
}

int loom_workflow_set_input_json(loom_workflow *wf, const char *node_id, const char *input,
                                 const char *json, loom_error *err)
{
    json_object *inputs = inputs_of(wf, node_id, err);
    if (!inputs)
        return err ? err->code : LOOM_ERR_NOT_FOUND;
    json_object *v = NULL;
    loom_error ignored;
    if (json_parse_text(json, strlen(json), "value", &v, &ignored) != LOOM_OK)
        v = json_object_new_string(json);   /* plain text is a string */
    json_object_object_add(inputs, input, v);
    return LOOM_OK;
}

int loom_workflow_set_link(loom_workflow *wf, const char *node_id, const char *input,
                           const char *from_id, int slot, loom_error *err)
{
    json_object *inputs = inputs_of(wf, node_id, err);
    if (!inputs)
        return err ? err->code : LOOM_ERR_NOT_FOUND;
    if (!node_of(wf, from_id))
        return loom_errorf(err, LOOM_ERR_NOT_FOUND, "no node '%s' to link from", from_id);
    json_object *link = json_object_new_array();
    json_object_array_add(link, json_object_new_string(from_id));
    json_object_array_add(link, json_object_new_int(slot));
    json_object_object_add(inputs, input, link);
    return LOOM_OK;
}

int loom_workflow_remove_input(loom_workflow *wf, const char *node_id, const char *input,
                               loom_error *err)
{
    json_object *inputs = inputs_of(wf, node_id, err);
    if (!inputs)
        return err ? err->code : LOOM_ERR_NOT_FOUND;
    json_object_object_del(inputs, input);
    return LOOM_OK;
}

char *loom_workflow_get_input_json(const loom_workflow *wf, const char *node_id,
                                   const char *input)
{
    json_object *v = json_get(json_get(node_of(wf, node_id), "inputs"), input);
    return v ? strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE))
             : NULL;
}

/* Split NODE.INPUT=VALUE and find NODE; *lhs (malloc'd) holds the input name at *input,
 * *value points into assignment. */
static int parse_set(const loom_workflow *wf, const char *assignment, char **lhs,
                     const char **id, const char **input, const char **value, loom_error *err)
{
    const char *eq = strchr(assignment, '=');
    char *dot = NULL;
    *lhs = eq ? strndup(assignment, (size_t)(eq - assignment)) : NULL;
    if (eq && !*lhs)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    if (*lhs)
        dot = strrchr(*lhs, '.');
    if (!dot || dot == *lhs || !dot[1]) {
        free(*lhs);
        *lhs = NULL;
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "--set '%s': expected NODE.INPUT=VALUE (NODE is an id or a title)",
                           assignment);
    }
    *dot = '\0';
    *input = dot + 1;
    *value = eq + 1;
    *id = loom_workflow_find_node(wf, *lhs);
    if (!*id) {
        loom_errorf(err, LOOM_ERR_NOT_FOUND, "--set: no node with id or title '%s'", *lhs);
        free(*lhs);
        *lhs = NULL;
        return LOOM_ERR_NOT_FOUND;
    }
    return LOOM_OK;
}

int loom_workflow_apply_set(loom_workflow *wf, const char *assignment, loom_error *err)
{
    char *lhs;
    const char *id, *input, *value;
    int rc = parse_set(wf, assignment, &lhs, &id, &input, &value, err);
    if (rc == LOOM_OK)
        rc = loom_workflow_set_input_json(wf, id, input, value, err);
    free(lhs);
    return rc;
}

/* "seed, steps, cfg" for the message; malloc'd. */
static char *declared_inputs(const loom_node_type *t)
{
    strbuf b = {0};
    for (size_t i = 0; i < t->n_inputs; i++)
        if (!(t->inputs[i].flags & LOOM_IN_HIDDEN))
            sb_printf(&b, "%s%s", b.len ? ", " : "", t->inputs[i].name);
    return sb_take(&b);
}

int loom_session_apply_set(loom_session *s, loom_workflow *wf, const char *assignment,
                           loom_error *err)
{
    char *lhs;
    const char *id, *input, *value;
    int rc = parse_set(wf, assignment, &lhs, &id, &input, &value, err);
    if (rc != LOOM_OK)
        return rc;
    const char *cls = loom_workflow_node_class(wf, id);
    const loom_node_type *t = cls ? loom_session_node_find(s, cls) : NULL;
    bool declared = !t;     /* an unknown class is validation's error to report */
    for (size_t i = 0; t && i < t->n_inputs; i++)
        if (!strcmp(t->inputs[i].name, input) && !(t->inputs[i].flags & LOOM_IN_HIDDEN))
            declared = true;
    if (declared) {
        rc = loom_workflow_set_input_json(wf, id, input, value, err);
    } else {
        char *names = declared_inputs(t);
        rc = loom_errorf(err, LOOM_ERR_INVALID,
                         "--set: node %s (%s) has no input '%s'; its inputs are: %s", id, cls,
                         input, names ? names : "?");
        free(names);
    }
    free(lhs);
    return rc;
}
