/* lm_run.c: wf:validate() and wf:run{callbacks}.
 *
 * wf:run turns the engine's event stream into Lua callbacks and a result table. A
 * callback runs under pcall inside the engine's event function: if it fails, the run is
 * interrupted at the next node or progress report and, once loom_run has returned, the
 * callback's error is raised — a Lua error never unwinds through the engine. A run that
 * fails (invalid workflow, node failure, interrupt) raises a Lua error whose message is
 * the engine's; a run that succeeds returns
 *   { success = true, prompt_id, seconds, outputs = {[id] = ui}, files = {...},
 *     executed = {ids that ran}, cached = {ids taken from the cache} }.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm.h"

int lm_workflow_validate(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    loom_validation *v = loom_validate(lm_workflow_session(L, 1), u->wf);
    if (!v)
        return luaL_error(L, "out of memory validating");
    size_t n = loom_validation_count(v);
    lua_pushboolean(L, loom_validation_ok(v));
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const loom_validation_error *e = loom_validation_get(v, i);
        lua_createtable(L, 0, 7);
        const char *fields[][2] = {{"node_id", e->node_id}, {"class_type", e->class_type},
                                   {"type", e->type}, {"message", e->message},
                                   {"details", e->details}, {"input_name", e->input_name}};
        for (size_t f = 0; f < LOOM_COUNT(fields); f++) {
            lua_pushstring(L, fields[f][1]);   /* NULL pushes nil */
            lua_setfield(L, -2, fields[f][0]);
        }
        char *line = loom_validation_error_line(e);
        lua_pushstring(L, line);
        lua_setfield(L, -2, "line");
        free(line);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    loom_validation_free(v);
    return 2;
}

/* ---- running ----------------------------------------------------------------------- */

typedef struct run_ctx {
    lua_State    *L;
    int           opts;      /* stack index of the callbacks table, 0 if none */
    int           result;    /* stack index of the result table */
    int           opts_ref, result_ref;   /* the same in the registry: events can arrive
                                             inside a deeper C frame (loom.progress) */
    loom_session *s;
    bool          cb_failed;
    char          cb_msg[LOOM_ERROR_MSG_MAX];
} run_ctx;

static int traceback_handler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Push callback `name`; false (nothing pushed) when absent or after a failure. */
static bool get_cb(run_ctx *r, const char *name)
{
    if (!r->opts || r->cb_failed)
        return false;
    if (lua_getfield(r->L, r->opts, name) == LUA_TFUNCTION)
        return true;
    lua_pop(r->L, 1);
    return false;
}

static void call_cb(run_ctx *r, int nargs)
{
    lua_State *L = r->L;
    int fn = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, fn);
    if (lua_pcall(L, nargs, 0, fn) != LUA_OK) {
        r->cb_failed = true;
        snprintf(r->cb_msg, sizeof r->cb_msg, "callback failed: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        loom_interrupt(r->s);
    }
    lua_pop(L, 1);   /* the handler */
}

static void append(lua_State *L, int table, const char *field, const char *s)
{
    lua_getfield(L, table, field);
    lua_pushstring(L, s);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
}

static void on_event(const loom_event *ev, void *user)
{
    run_ctx *r = user;
    lua_State *L = r->L;
    if (!lua_checkstack(L, 12))
        return;
    int top = lua_gettop(L), saved_opts = r->opts, saved_result = r->result;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->result_ref);
    r->result = top + 1;
    if (saved_opts) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->opts_ref);
        r->opts = top + 2;
    }
    switch (ev->type) {
    case LOOM_EV_EXECUTION_START:
        lua_pushstring(L, ev->prompt_id);
        lua_setfield(L, r->result, "prompt_id");
        if (get_cb(r, "on_start")) {
            lua_pushstring(L, ev->prompt_id);
            call_cb(r, 1);
        }
        break;
    case LOOM_EV_EXECUTION_CACHED:
        for (size_t i = 0; i < ev->n_nodes; i++)
            append(L, r->result, "cached", ev->nodes[i]);
        if (get_cb(r, "on_cached")) {
            lua_getfield(L, r->result, "cached");
            call_cb(r, 1);
        }
        break;
    case LOOM_EV_EXECUTING:
        append(L, r->result, "executed", ev->node_id);
        if (get_cb(r, "on_executing")) {
            lua_pushstring(L, ev->node_id);
            lua_pushstring(L, ev->class_type);
            lua_pushstring(L, ev->title);
            call_cb(r, 3);
        }
        break;
    case LOOM_EV_PROGRESS:
        if (get_cb(r, "on_progress")) {
            lua_pushstring(L, ev->node_id);
            lua_pushinteger(L, ev->value);
            lua_pushinteger(L, ev->max);
            call_cb(r, 3);
        }
        if (get_cb(r, "on_step")) {
            lua_createtable(L, 0, 5);
            lua_pushstring(L, ev->node_id);
            lua_setfield(L, -2, "node");
            lua_pushstring(L, ev->class_type);
            lua_setfield(L, -2, "class_type");
            lua_pushinteger(L, ev->value);
            lua_setfield(L, -2, "step");
            lua_pushinteger(L, ev->max);
            lua_setfield(L, -2, "steps");
            /* C nodes send their step details with the event; Lua nodes through
             * loom.progress(i, n, stats), kept in the registry. */
            if (!ev->output_json || !lm_push_json_text(L, ev->output_json))
                lua_getfield(L, LUA_REGISTRYINDEX, "loom.step_stats");
            lua_setfield(L, -2, "stats");
            call_cb(r, 1);
        }
        break;
    case LOOM_EV_EXECUTED:
        if (get_cb(r, "on_executed")) {
            lua_pushstring(L, ev->node_id);
            if (!ev->output_json || !lm_push_json_text(L, ev->output_json)) {
                lua_pop(L, ev->output_json ? 1 : 0);
                lua_pushnil(L);
            }
            call_cb(r, 2);
        }
        break;
    case LOOM_EV_EXECUTION_ERROR:
        if (get_cb(r, "on_error")) {
            lua_pushstring(L, ev->node_id);
            lua_pushstring(L, ev->message);
            call_cb(r, 2);
        }
        break;
    case LOOM_EV_EXECUTION_SUCCESS:
        lua_pushnumber(L, ev->seconds);
        lua_setfield(L, r->result, "seconds");
        break;
    default:
        break;
    }
    lua_settop(L, top);
    r->opts = saved_opts;
    r->result = saved_result;
}

/* result.files: every UI entry with a filename, with its path and the node that wrote it.
 * (Paths name the output directory; temp previews keep their file name only.) */
static void collect_entries(lua_State *L, int list, int node_key, int files, const char *dir)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        int e = lua_gettop(L);
        if (lua_istable(L, e) && lua_getfield(L, e, "filename") == LUA_TSTRING) {
            lua_getfield(L, e, "subfolder");
            const char *sub = luaL_optstring(L, -1, "");
            lua_pushfstring(L, "%s/%s%s%s", dir, sub, sub[0] ? "/" : "", lua_tostring(L, e + 1));
            lua_setfield(L, e, "path");
            lua_pushvalue(L, node_key);
            lua_setfield(L, e, "node");
            lua_pushvalue(L, e);
            lua_rawseti(L, files, (lua_Integer)lua_rawlen(L, files) + 1);
        }
        lua_settop(L, e - 1);
    }
}

static void collect_files(lua_State *L, int outputs, int result, const char *out_dir)
{
    lua_newtable(L);
    int files = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, outputs)) {                 /* node id -> ui dict */
        int node_key = lua_gettop(L) - 1, ui = lua_gettop(L);
        if (lua_istable(L, ui)) {
            lua_pushnil(L);
            while (lua_next(L, ui)) {              /* key -> list */
                if (lua_istable(L, -1))
                    collect_entries(L, lua_gettop(L), node_key, files, out_dir);
                lua_pop(L, 1);
            }
        }
        lua_settop(L, node_key);
    }
    lua_setfield(L, result, "files");
}

int lm_workflow_run(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    loom_session *s = lm_workflow_session(L, 1);
    lm_state *st = lm_state_get(L);
    const char *targets[64] = {0};
    loom_run_options opt = {.on_event = on_event};
    run_ctx r = {.L = L, .s = s};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        r.opts = 2;
        lua_getfield(L, 2, "prompt_id");
        opt.prompt_id = luaL_optstring(L, -1, NULL);
        if (lua_getfield(L, 2, "targets") == LUA_TTABLE) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
            if (n >= (lua_Integer)LOOM_COUNT(targets))
                return luaL_error(L, "at most %d targets", (int)LOOM_COUNT(targets) - 1);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                lm_node *h = luaL_testudata(L, -1, LM_NODE);
                targets[i - 1] = h ? h->id : luaL_checkstring(L, -1);
                lua_pop(L, 1);   /* anchored by the targets table */
            }
            opt.targets = targets;
        }
    }
    lua_createtable(L, 0, 8);
    r.result = lua_gettop(L);
    lua_newtable(L);
    lua_setfield(L, r.result, "executed");
    lua_newtable(L);
    lua_setfield(L, r.result, "cached");
    opt.user = &r;
    lua_pushvalue(L, r.result);
    r.result_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    r.opts_ref = LUA_NOREF;
    if (r.opts) {
        lua_pushvalue(L, r.opts);
        r.opts_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }

    lua_State *saved_run = st->run_L;
    st->run_L = L;
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "loom.step_stats");
    loom_error err = {0};
    int rc = loom_run(s, u->wf, &opt, &err);
    st->run_L = saved_run;
    luaL_unref(L, LUA_REGISTRYINDEX, r.result_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, r.opts_ref);

    if (r.cb_failed)
        return luaL_error(L, "%s", r.cb_msg);
    if (rc != LOOM_OK)
        return lm_raise_err(L, &err);
    lua_pushboolean(L, 1);
    lua_setfield(L, r.result, "success");
    char *outputs = loom_session_last_outputs(s);
    if (!outputs || !lm_push_json_text(L, outputs)) {
        lua_pop(L, outputs ? 1 : 0);
        lua_newtable(L);
    }
    free(outputs);
    lua_pushvalue(L, -1);
    lua_setfield(L, r.result, "outputs");
    collect_files(L, lua_gettop(L), r.result, loom_session_output_dir(s));
    lua_settop(L, r.result);
    return 1;
}
