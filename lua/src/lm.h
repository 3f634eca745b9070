/* lm.h: internals shared by the files of the Lua binding (prefix lm_).
 *
 * Every Lua state that opens `loom` gets one lm_state, a userdata kept in the registry:
 * it remembers the default session, the options that session is made with, where
 * loom.register_node sends node types (a session, or the registrar of the plugin that
 * loads Lua node files), and, while a Lua node runs, that node's loom_node_ctx. The
 * engine runs nodes synchronously on the thread that called loom_run, so a Lua node's run
 * function is called on the Lua thread that called wf:run (or on the main thread when the
 * engine, not Lua, started the run). Errors never longjmp through the engine: everything
 * Lua that runs under a C call from loom is pcall'd and its message handed back as a
 * loom error, and C failures are raised as Lua errors only once back in Lua.
 */
#ifndef LM_H
#define LM_H

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>

#include "loom/loom.h"

/* Metatable names (userdata and the link table). */
#define LM_SESSION  "loom.session"
#define LM_WORKFLOW "loom.workflow"
#define LM_NODE     "loom.node"
#define LM_INPUTS   "loom.inputs"
#define LM_VALUE    "loom.value"
#define LM_LINK     "loom.link"

/* Node ids longer than this are refused (ComfyUI ids are short: "3", "12:5"). */
#define LM_ID_MAX 128
/* JSON nesting accepted when converting Lua tables to workflow inputs and UI entries. */
#define LM_JSON_MAX_DEPTH 64
/* Extra plugin directories accepted by loom.session{plugins=...} and the runner. */
#define LM_MAX_PLUGIN_DIRS 16

typedef struct lm_host lm_host;   /* plugin mode: owns the Lua state (lua_nodes_plugin.c) */

typedef struct lm_state {
    lua_State      *main;          /* the state's main thread */
    lua_State      *run_L;         /* thread inside wf:run now, NULL otherwise */
    loom_node_ctx  *ctx;           /* the Lua node running now, NULL otherwise */
    bool            interrupted;   /* loom.progress saw an interrupt in ctx */
    bool            sandboxed;     /* no file access: loom.load, loom.session refused */
    loom_registrar *registrar;     /* plugin mode: register_node goes here */
    lm_host        *host;          /* plugin mode: reference-counted owner of the state */
    /* Options for the default session (set by the embedded runner). */
    char           *models_dir, *output_dir;
    char           *plugin_dirs[LM_MAX_PLUGIN_DIRS + 1];
} lm_state;

/* Plugin mode: the state lives as long as a Lua node type registered from it. */
struct lm_host {
    lua_State *L;
    int        refs;
};
void lm_host_unref(lm_host *h);

typedef struct lm_session  { loom_session  *s; } lm_session;
typedef struct lm_workflow { loom_workflow *wf; } lm_workflow;   /* uservalue 1: session */
typedef struct lm_node     { char id[LM_ID_MAX]; } lm_node;      /* uservalue 1: workflow */
typedef struct lm_value    { loom_value *v; } lm_value;

/* lm_state.c */
lm_state     *lm_state_get(lua_State *L);
loom_session *lm_default_session(lua_State *L);      /* creates it on first use */
int           lm_push_default_session(lua_State *L);  /* pushes the userdata */
int           lm_raise_err(lua_State *L, const loom_error *err);

/* lm_session.c */
void          lm_session_open(lua_State *L);
int           lm_session_new(lua_State *L, const loom_options *opt);
int           lm_session_create(lua_State *L);     /* loom.session{...} */
lm_session   *lm_check_session(lua_State *L, int idx);
int           lm_session_load(lua_State *L);        /* (session, path) */
int           lm_session_load_string(lua_State *L); /* (session, json) */
int           lm_session_graph(lua_State *L);       /* (session) */

/* lm_workflow.c */
void          lm_workflow_open(lua_State *L);
int           lm_workflow_push(lua_State *L, loom_workflow *wf, int session_idx);
lm_workflow  *lm_check_workflow(lua_State *L, int idx);
loom_session *lm_workflow_session(lua_State *L, int wf_idx);

/* lm_nodehandle.c */
void          lm_node_open(lua_State *L);
int           lm_node_push(lua_State *L, int wf_idx, const char *id);
lm_node      *lm_check_node(lua_State *L, int idx);
void          lm_push_link(lua_State *L, const char *node_id, lua_Integer slot);
int           lm_set_input(lua_State *L, int wf_idx, const char *node_id, const char *name,
                           int value_idx);

/* lm_json.c: JSON text <-> Lua values, loom values -> Lua */
int           lm_push_json_text(lua_State *L, const char *json);   /* pushes nil if bad */
char         *lm_to_json_text(lua_State *L, int idx, char *why, size_t cap); /* malloc'd */
void          lm_push_loom_value(lua_State *L, const loom_value *v);
loom_value   *lm_to_loom_value(lua_State *L, int idx, const char *type, char *why, size_t cap);
void          lm_value_open(lua_State *L);

/* lm_run.c */
int           lm_workflow_run(lua_State *L);          /* wf:run{callbacks} */
int           lm_workflow_validate(lua_State *L);     /* wf:validate() */

/* lm_register.c */
int           lm_register_node(lua_State *L);         /* loom.register_node{...} */
int           lm_session_register_node(lua_State *L); /* session:register_node{...} */
int           lm_progress(lua_State *L);              /* loom.progress(i, n [, stats]) */
int           lm_ui(lua_State *L);                    /* loom.ui(key, value) */

/* lm_sandbox.c */
int           lm_sandbox(lua_State *L);               /* loom.sandbox(code, opts) */
int           lm_sandbox_file(lua_State *L);          /* loom.sandbox_file(path, opts) */
/* A fresh sandboxed state with the given limits (0: none); NULL when out of memory. */
lua_State    *lm_sandbox_new(size_t memory, long long instructions);
void          lm_sandbox_close(lua_State *S);

#endif
