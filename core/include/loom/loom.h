/* loom/loom.h: the embedding API — sessions, workflows, validation, execution, events.
 *
 * A session owns a node registry (filled from plugins), an output cache and the
 * directories a run uses. Workflows are held in ComfyUI's API ("prompt") form; UI-format
 * files are converted on load. loom_run validates, then executes the output nodes and
 * their ancestors in dependency order, reusing cached node outputs from earlier runs in
 * the same session. Everything that happens is reported through one event callback,
 * which the CLI, the Lua binding and the server all consume.
 */
#ifndef LOOM_H
#define LOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/error.h"
#include "loom/plugin.h"
#include "loom/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LOOM_VERSION_STRING "0.1.0"

typedef struct loom_session  loom_session;
typedef struct loom_workflow loom_workflow;

/* ---- sessions -------------------------------------------------------------------- */

typedef struct loom_options {
    const char        *models_dir;     /* model roots, ":"-separated; NULL: $LOOM_MODELS, else
                                          ./models. <libdir>/../share/loom/models, when it
                                          exists, is searched after them. */
    const char        *output_dir;     /* NULL: ./output */
    const char        *temp_dir;       /* NULL: <output_dir>/../temp-ish: $TMPDIR or /tmp */
    const char *const *plugin_dirs;    /* extra dirs, NULL-terminated; searched after the
                                          built-in dir and $LOOM_PLUGIN_PATH */
    bool               no_default_plugins; /* skip the built-in dir and $LOOM_PLUGIN_PATH */
    uint64_t           cache_budget;   /* bytes of cached node outputs; 0 = default */
    bool               quiet;          /* no plugin warnings on stderr */
} loom_options;

int   loom_session_new (const loom_options *opt, loom_session **out, loom_error *err);
void  loom_session_free(loom_session *s);

/* Load one more plugin file, or every *.so in a directory. Problems are recorded (see
 * loom_session_plugin_problem) and reported, and loading goes on. */
int   loom_session_load_plugin(loom_session *s, const char *path, loom_error *err);
size_t      loom_session_plugin_problem_count(const loom_session *s);
const char *loom_session_plugin_problem(const loom_session *s, size_t i);

/* Register a node type directly (embedders, Lua). Same rules as loom_register_node. */
int   loom_session_register_node(loom_session *s, const loom_node_type *type,
                                 void (*release)(const loom_node_type *type),
                                 const char *module, loom_error *err);

size_t                loom_session_node_count(const loom_session *s);
const loom_node_type *loom_session_node_at   (const loom_session *s, size_t i);  /* sorted by name */
const loom_node_type *loom_session_node_find (const loom_session *s, const char *class_type);
/* ComfyUI /object_info JSON for every class (class_type NULL) or one. malloc'd; NULL if unknown. */
char *loom_session_object_info(loom_session *s, const char *class_type);

const char *loom_session_models_dir(const loom_session *s);
const char *loom_session_output_dir(const loom_session *s);

/* Ask a running loom_run to stop at the next node or progress report. Async-signal-safe. */
void  loom_interrupt(loom_session *s);

/* ---- workflows ------------------------------------------------------------------- */

/* Load a workflow from a file or a string, in API or UI format (detected). A UI workflow
 * is converted with this session's registry and kept as the "workflow" that output files
 * embed. */
int   loom_workflow_load_file  (loom_session *s, const char *path, loom_workflow **out,
                                loom_error *err);
int   loom_workflow_load_string(loom_session *s, const char *json, loom_workflow **out,
                                loom_error *err);
/* An empty workflow to build from scratch. */
loom_workflow *loom_workflow_new(void);
loom_workflow *loom_workflow_clone(const loom_workflow *wf);
void  loom_workflow_free(loom_workflow *wf);

/* The API-format JSON (pretty when pretty is true). malloc'd. */
char *loom_workflow_to_json(const loom_workflow *wf, bool pretty);

size_t      loom_workflow_node_count(const loom_workflow *wf);
const char *loom_workflow_node_id   (const loom_workflow *wf, size_t i);   /* sorted */
const char *loom_workflow_node_class(const loom_workflow *wf, const char *node_id);
const char *loom_workflow_node_title(const loom_workflow *wf, const char *node_id);
/* Find a node by id, or else by its _meta.title (first match). NULL if none. */
const char *loom_workflow_find_node (const loom_workflow *wf, const char *id_or_title);

/* Add a node; id NULL picks the next free integer id. Returns the id (owned by wf). */
const char *loom_workflow_add_node(loom_workflow *wf, const char *id, const char *class_type,
                                   loom_error *err);
int   loom_workflow_remove_node(loom_workflow *wf, const char *node_id, loom_error *err);
/* Set a constant input from JSON text ("42", "\"text\"", "1.5"); plain text that is not
 * JSON is taken as a string. */
int   loom_workflow_set_input_json(loom_workflow *wf, const char *node_id, const char *input,
                                   const char *json, loom_error *err);
/* Link input to output `slot` of node from_id. */
int   loom_workflow_set_link(loom_workflow *wf, const char *node_id, const char *input,
                             const char *from_id, int slot, loom_error *err);
int   loom_workflow_remove_input(loom_workflow *wf, const char *node_id, const char *input,
                                 loom_error *err);
/* An input as JSON text (a link reads `["id", slot]`); malloc'd, NULL if absent. */
char *loom_workflow_get_input_json(const loom_workflow *wf, const char *node_id,
                                   const char *input);
/* NODE.INPUT=VALUE, where NODE is an id or a title (the CLI's --set). */
int   loom_workflow_apply_set(loom_workflow *wf, const char *assignment, loom_error *err);
/* The same, checked against the node's type in s: an input the type does not declare is
 * an error naming the node and listing its inputs (a typo such as "KSampler.stpes"). */
int   loom_session_apply_set(loom_session *s, loom_workflow *wf, const char *assignment,
                             loom_error *err);

/* ---- validation ------------------------------------------------------------------ */

typedef struct loom_validation loom_validation;

typedef struct loom_validation_error {
    const char *node_id;        /* NULL for prompt-level errors */
    const char *class_type;
    const char *type;           /* "required_input_missing", "value_not_in_list", ... */
    const char *message;        /* "Required input is missing" */
    const char *details;        /* "seed", "sampler_name: 'x' not in [...]" */
    const char *input_name;     /* NULL if not about one input */
} loom_validation_error;

/* Validate wf against the session's registry. Returns the result (never NULL unless out
 * of memory); ok when it holds no errors. */
loom_validation *loom_validate(loom_session *s, loom_workflow *wf);
bool   loom_validation_ok   (const loom_validation *v);
size_t loom_validation_count(const loom_validation *v);
const loom_validation_error *loom_validation_get(const loom_validation *v, size_t i);
/* ComfyUI's /prompt error JSON: {"error": {...}, "node_errors": {...}}. malloc'd. */
char  *loom_validation_to_json(const loom_validation *v, bool pretty);
/* One readable line: "node 3 (KSampler) input 'seed': Required input is missing". */
char  *loom_validation_error_line(const loom_validation_error *e);
void   loom_validation_free (loom_validation *v);

/* ---- execution and events -------------------------------------------------------- */

typedef enum loom_event_type {
    LOOM_EV_EXECUTION_START,
    LOOM_EV_EXECUTION_CACHED,      /* nodes[] whose outputs came from the cache */
    LOOM_EV_EXECUTING,             /* node_id about to run */
    LOOM_EV_PROGRESS,              /* node_id, value, max; output_json = step details or NULL */
    LOOM_EV_EXECUTED,              /* node_id finished; output_json = its UI dict or NULL */
    LOOM_EV_EXECUTION_ERROR,       /* node_id, class_type, message */
    LOOM_EV_EXECUTION_INTERRUPTED, /* node_id (may be NULL) */
    LOOM_EV_EXECUTION_SUCCESS
} loom_event_type;

typedef struct loom_event {
    loom_event_type     type;
    const char         *prompt_id;
    const char         *node_id;
    const char         *class_type;
    const char         *title;
    int64_t             value, max;
    const char         *output_json;
    const char *const  *nodes;
    size_t              n_nodes;
    const char         *message;
    double              seconds;     /* EXECUTED: node wall time; SUCCESS: run wall time */
} loom_event;

typedef void (*loom_event_fn)(const loom_event *ev, void *user);

typedef struct loom_run_options {
    loom_event_fn      on_event;
    void              *user;
    const char        *prompt_id;           /* NULL: generated */
    const char *const *targets;             /* NULL-terminated output node ids, or NULL = all */
    const char        *workflow_json;       /* UI workflow to embed in outputs; NULL = wf's */
} loom_run_options;

/* Validate and run. A validation failure returns LOOM_ERR_INVALID with a summary in err;
 * call loom_validate first for the full report. */
int   loom_run(loom_session *s, loom_workflow *wf, const loom_run_options *opt, loom_error *err);

/* After a run: {"<node_id>": <ui dict>, ...} for every output node that produced UI
 * (cached ones included), like ComfyUI's history "outputs". malloc'd. */
char *loom_session_last_outputs(loom_session *s);
/* A node output of the last run that is still held (by the cache): new reference or NULL. */
loom_value *loom_session_last_value(loom_session *s, const char *node_id, size_t slot);

/* Cache introspection, for tests and the server. */
size_t   loom_cache_entry_count(const loom_session *s);
uint64_t loom_cache_bytes      (const loom_session *s);
void     loom_cache_clear      (loom_session *s);

#ifdef __cplusplus
}
#endif
#endif
