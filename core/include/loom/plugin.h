/* loom/plugin.h: the node plugin ABI.
 *
 * A node type is data: a static table of inputs and outputs plus one execute function
 * (ComfyUI's "nodes are data"). The engine derives validation, the /object_info JSON,
 * UI-to-API widget mapping and documentation from that one declaration.
 *
 * A plugin is a shared object that exports exactly one symbol, `loom_plugin_entry`, a
 * loom_plugin_info made with LOOM_PLUGIN_DEFINE. The loader checks the ABI version and the
 * sizes of the structs that cross the boundary before calling anything, and names both
 * sides when they differ. Every node type, built-in ones included, arrives this way.
 *
 * Values crossing nodes are refcounted loom_value objects (values.h). Inside execute, a
 * node reads its inputs by name, sets each output once, may report progress (which is also
 * where an interrupt is noticed) and returns LOOM_OK or an error made with loom_node_fail.
 */
#ifndef LOOM_PLUGIN_H
#define LOOM_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/error.h"
#include "loom/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bump when a struct below changes layout or a function changes meaning. */
#define LOOM_PLUGIN_ABI_VERSION 1u

#define LOOM_EXPORT __attribute__((visibility("default")))

/* ---- input declarations -------------------------------------------------------- */

/* Widget types; any other type string names a socket ("MODEL", "LATENT", "*", "INT,FLOAT"). */
#define LOOM_T_INT     "INT"
#define LOOM_T_FLOAT   "FLOAT"
#define LOOM_T_STRING  "STRING"
#define LOOM_T_BOOLEAN "BOOLEAN"
#define LOOM_T_COMBO   "COMBO"
/* Hidden inputs the engine fills (as STRING values): the API prompt JSON, the UI workflow
 * JSON (ComfyUI's extra_pnginfo.workflow; empty object when absent), the node id. */
#define LOOM_T_PROMPT        "PROMPT"
#define LOOM_T_EXTRA_PNGINFO "EXTRA_PNGINFO"
#define LOOM_T_UNIQUE_ID     "UNIQUE_ID"

enum loom_input_flags {
    LOOM_IN_OPTIONAL        = 1u << 0,  /* may be absent */
    LOOM_IN_HIDDEN          = 1u << 1,  /* filled by the engine, never by the workflow */
    LOOM_IN_FORCE_INPUT     = 1u << 2,  /* a widget type shown only as a socket */
    LOOM_IN_MULTILINE       = 1u << 3,  /* STRING: multi-line text box */
    LOOM_IN_CONTROL_SEED    = 1u << 4,  /* INT: UI adds control_after_generate */
    LOOM_IN_DYNAMIC_PROMPTS = 1u << 5,  /* STRING: ComfyUI's dynamicPrompts option */
    LOOM_IN_ADVANCED        = 1u << 6,  /* shown under "advanced" in the UI */
    LOOM_IN_HAS_RANGE       = 1u << 7,  /* INT/FLOAT: min and max are set */
    LOOM_IN_HAS_STEP        = 1u << 8,  /* INT/FLOAT: step is set */
    LOOM_IN_HAS_ROUND       = 1u << 9,  /* FLOAT: round is set */
    LOOM_IN_NO_DEFAULT      = 1u << 10, /* no default value to advertise */
    LOOM_IN_UPLOAD_IMAGE    = 1u << 11  /* COMBO: UI adds an upload widget */
};

/* Ask the plugin for the current choices of a dynamic COMBO. Return a NULL-terminated
 * array allocated with malloc (strings too); the engine frees it. */
typedef char **(*loom_choices_fn)(const char *models_dir, void *userdata);

typedef struct loom_input {
    const char *name;
    const char *type;            /* see LOOM_T_* above, or a socket type */
    unsigned    flags;           /* enum loom_input_flags */
    double      def, min, max;   /* INT / FLOAT / BOOLEAN default (0/1); INT max may be
                                    18446744073709551615.0, meaning UINT64_MAX */
    double      step, round;
    const char *def_str;         /* STRING / COMBO default */
    const char *const *choices;  /* COMBO: NULL-terminated fixed list */
    const char *model_folder;    /* COMBO: files found under <models>/<folder> (";"-separated
                                    list of folders, ComfyUI style: "diffusion_models;unet") */
    loom_choices_fn choices_fn;  /* COMBO: computed list (rarely needed) */
    const char *tooltip;
} loom_input;

typedef struct loom_output {
    const char *type;            /* "LATENT", "MODEL", ... */
    const char *name;            /* display name; NULL = type */
    const char *tooltip;
    bool        is_list;
} loom_output;

/* ---- node types ------------------------------------------------------------------ */

enum loom_node_flags {
    LOOM_NODE_OUTPUT         = 1u << 0, /* a sink: drives execution */
    LOOM_NODE_NOT_IDEMPOTENT = 1u << 1, /* cache key includes the node id */
    LOOM_NODE_DEPRECATED     = 1u << 2,
    LOOM_NODE_EXPERIMENTAL   = 1u << 3,
    LOOM_NODE_NEVER_CACHE    = 1u << 4  /* re-run every time (like IS_CHANGED = NaN) */
};

typedef struct loom_node_ctx loom_node_ctx;

/* Run the node. Read inputs with loom_in_*, set every output with loom_out, return LOOM_OK
 * or the status of loom_node_fail. */
typedef int (*loom_execute_fn)(loom_node_ctx *ctx);

/* Optional: extra content for the cache key, computed from constant inputs only
 * (e.g. a model file's size and mtime). Write a short string into buf. Return LOOM_OK, or
 * non-zero to make the node uncacheable this run. */
typedef int (*loom_fingerprint_fn)(loom_node_ctx *ctx, char *buf, size_t cap);

typedef struct loom_node_type {
    const char        *name;          /* class_type, unique across plugins */
    const char        *display_name;  /* NULL = name */
    const char        *category;      /* "sampling", "latent/video", ... */
    const char        *description;
    const loom_input  *inputs;        /* declared order = widget order */
    size_t             n_inputs;
    const loom_output *outputs;
    size_t             n_outputs;
    unsigned           flags;         /* enum loom_node_flags */
    loom_execute_fn    execute;       /* NULL: interface known, not runnable in this build */
    loom_fingerprint_fn fingerprint;  /* optional */
    void              *userdata;      /* handed back through loom_node_userdata */
} loom_node_type;

#define LOOM_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- inside execute -------------------------------------------------------------- */

/* The value of an input, or NULL when an optional input is absent. Borrowed. */
const loom_value *loom_in          (loom_node_ctx *ctx, const char *name);
int64_t           loom_in_int      (loom_node_ctx *ctx, const char *name);
uint64_t          loom_in_u64      (loom_node_ctx *ctx, const char *name);  /* seeds */
double            loom_in_float    (loom_node_ctx *ctx, const char *name);
const char       *loom_in_str      (loom_node_ctx *ctx, const char *name);
bool              loom_in_bool     (loom_node_ctx *ctx, const char *name);
/* The object payload of a socket input of the given type; NULL when absent. */
void             *loom_in_object   (loom_node_ctx *ctx, const char *name, const char *type);

/* Set output `index`. Steals the reference to v. */
int               loom_out         (loom_node_ctx *ctx, size_t index, loom_value *v);

/* Append one entry to the node's UI output list `key` (ComfyUI's {"images": [...]}).
 * json is one JSON value as text. */
int               loom_ui_append   (loom_node_ctx *ctx, const char *key, const char *json);
/* The common case: {"filename", "subfolder", "type"} under key (e.g. "images"). */
int               loom_ui_file     (loom_node_ctx *ctx, const char *key, const char *filename,
                                    const char *subfolder, const char *type);

/* Report progress; returns LOOM_ERR_INTERRUPTED when the user asked to stop, in which
 * case the node should clean up and return that status. */
int               loom_progress    (loom_node_ctx *ctx, int64_t value, int64_t max);
/* The same, with details for this step as one JSON object (e.g. a sampler's latent
 * statistics {"mean": .., "std": .., "min": .., "max": ..}); it reaches the PROGRESS
 * event as output_json. */
int               loom_progress_detail(loom_node_ctx *ctx, int64_t value, int64_t max,
                                       const char *json);
bool              loom_interrupted (loom_node_ctx *ctx);

/* Record why the node failed; returns LOOM_ERR_RUNTIME (or code) for `return`. */
int               loom_node_fail   (loom_node_ctx *ctx, const char *fmt, ...)
                      __attribute__((format(printf, 2, 3)));
int               loom_node_fail_code(loom_node_ctx *ctx, loom_status code, const char *fmt, ...)
                      __attribute__((format(printf, 3, 4)));
/* Adopt a loom_error filled by a library call as the node's failure. */
int               loom_node_fail_err(loom_node_ctx *ctx, const loom_error *err);

const char       *loom_node_id     (loom_node_ctx *ctx);
const char       *loom_node_class  (loom_node_ctx *ctx);
void             *loom_node_userdata(loom_node_ctx *ctx);
/* Where files live: model root, output and temp directories of this session. */
const char       *loom_models_dir  (loom_node_ctx *ctx);
const char       *loom_output_dir  (loom_node_ctx *ctx);
/* Resolve a model file name chosen in a model_folder COMBO to a path. */
int               loom_model_path  (loom_node_ctx *ctx, const char *folder, const char *name,
                                    char *out, size_t cap);
void              loom_node_log    (loom_node_ctx *ctx, const char *fmt, ...)
                      __attribute__((format(printf, 2, 3)));

/* ---- registration ---------------------------------------------------------------- */

typedef struct loom_registrar loom_registrar;

/* Register a node type. The descriptor (and everything it points to) must outlive the
 * session: static data, or heap data released by `release` when the registry goes. */
int loom_register_node(loom_registrar *reg, const loom_node_type *type, loom_error *err);
/* Register n static node types in order; stops at the first failure. */
int loom_register_nodes(loom_registrar *reg, const loom_node_type *types, size_t n,
                        loom_error *err);
int loom_register_node_owned(loom_registrar *reg, const loom_node_type *type,
                             void (*release)(const loom_node_type *type), loom_error *err);

typedef struct loom_plugin_info {
    uint32_t    abi_version;          /* LOOM_PLUGIN_ABI_VERSION at build time */
    uint32_t    sizeof_node_type;     /* sizeof(loom_node_type) at build time */
    uint32_t    sizeof_input;
    uint32_t    sizeof_output;
    const char *name;                 /* reported as python_module in /object_info */
    const char *version;
    int       (*register_nodes)(loom_registrar *reg, loom_error *err);
} loom_plugin_info;

#define LOOM_PLUGIN_ENTRY_SYMBOL "loom_plugin_entry"

/* Define the plugin's one exported entry point. */
#define LOOM_PLUGIN_DEFINE(NAME, VERSION, REGISTER_FN)                                \
    LOOM_EXPORT const loom_plugin_info loom_plugin_entry = {                          \
        LOOM_PLUGIN_ABI_VERSION, (uint32_t)sizeof(loom_node_type),                    \
        (uint32_t)sizeof(loom_input), (uint32_t)sizeof(loom_output),                  \
        (NAME), (VERSION), (REGISTER_FN)}

#ifdef __cplusplus
}
#endif
#endif
