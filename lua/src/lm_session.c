/* lm_session.c: the loom.session userdata — one engine session, its registry and cache.
 *
 * A session userdata owns its loom_session; workflows made from it keep it alive through
 * their user value, so a session is freed only when no workflow needs it. Freeing the
 * session releases the Lua node types registered into it (their run functions are
 * unreferenced then), which is why a session must be collected before its Lua state
 * closes: lua_close runs __gc for every live userdata first, so it is.
 */
#include <stdlib.h>
#include <string.h>

#include "lm.h"

lm_session *lm_check_session(lua_State *L, int idx)
{
    lm_session *u = luaL_checkudata(L, idx, LM_SESSION);
    if (!u->s)
        luaL_error(L, "session is closed");
    return u;
}

int lm_session_new(lua_State *L, const loom_options *opt)
{
    lm_session *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->s = NULL;
    luaL_setmetatable(L, LM_SESSION);
    loom_error err = {0};
    if (loom_session_new(opt, &u->s, &err) != LOOM_OK)
        return lm_raise_err(L, &err);
    return 1;
}

/* loom.session{models=, output=, plugins={...}, cache_budget=, quiet=, no_default_plugins=} */
int lm_session_create(lua_State *L)
{
    if (lm_state_get(L)->sandboxed)
        return luaL_error(L, "loom.session is not available in the sandbox");
    loom_options opt = {.quiet = true};
    const char *dirs[LM_MAX_PLUGIN_DIRS + 1] = {0};
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_getfield(L, 1, "models");
        opt.models_dir = luaL_optstring(L, -1, NULL);
        lua_getfield(L, 1, "output");
        opt.output_dir = luaL_optstring(L, -1, NULL);
        lua_getfield(L, 1, "temp");
        opt.temp_dir = luaL_optstring(L, -1, NULL);
        lua_getfield(L, 1, "cache_budget");
        opt.cache_budget = (uint64_t)luaL_optinteger(L, -1, 0);
        lua_getfield(L, 1, "quiet");
        if (!lua_isnil(L, -1))
            opt.quiet = lua_toboolean(L, -1);
        lua_getfield(L, 1, "no_default_plugins");
        opt.no_default_plugins = lua_toboolean(L, -1);
        lua_getfield(L, 1, "plugins");
        if (lua_istable(L, -1)) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
            if (n > LM_MAX_PLUGIN_DIRS)
                return luaL_error(L, "at most %d plugin directories", LM_MAX_PLUGIN_DIRS);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                dirs[i - 1] = luaL_checkstring(L, -1);   /* stays on the stack */
                lua_insert(L, 1);                         /* keep it below, anchored */
            }
            opt.plugin_dirs = dirs;
        } else if (lua_isstring(L, -1)) {
            dirs[0] = lua_tostring(L, -1);
            opt.plugin_dirs = dirs;
        }
    }
    return lm_session_new(L, &opt);
}

int lm_session_load(lua_State *L)
{
    loom_session *s = lm_check_session(L, 1)->s;
    const char *path = luaL_checkstring(L, 2);
    if (lm_state_get(L)->sandboxed)
        return luaL_error(L, "loading files is not available in the sandbox");
    loom_workflow *wf;
    loom_error err = {0};
    if (loom_workflow_load_file(s, path, &wf, &err) != LOOM_OK)
        return lm_raise_err(L, &err);
    return lm_workflow_push(L, wf, 1);
}

int lm_session_load_string(lua_State *L)
{
    loom_session *s = lm_check_session(L, 1)->s;
    const char *json = luaL_checkstring(L, 2);
    loom_workflow *wf;
    loom_error err = {0};
    if (loom_workflow_load_string(s, json, &wf, &err) != LOOM_OK)
        return lm_raise_err(L, &err);
    return lm_workflow_push(L, wf, 1);
}

int lm_session_graph(lua_State *L)
{
    lm_check_session(L, 1);
    loom_workflow *wf = loom_workflow_new();
    if (!wf)
        return luaL_error(L, "out of memory");
    return lm_workflow_push(L, wf, 1);
}

/* session:value(node_id, slot): an output of the last run still held by the cache. */
static int session_value(lua_State *L)
{
    loom_session *s = lm_check_session(L, 1)->s;
    const char *id = luaL_checkstring(L, 2);
    lua_Integer slot = luaL_optinteger(L, 3, 0);
    loom_value *v = slot < 0 ? NULL : loom_session_last_value(s, id, (size_t)slot);
    if (!v)
        return 0;
    lm_push_loom_value(L, v);
    loom_value_unref(v);
    return 1;
}

static int session_interrupt(lua_State *L)
{
    loom_interrupt(lm_check_session(L, 1)->s);
    return 0;
}

/* session:nodes() -> sorted list of class names */
static int session_nodes(lua_State *L)
{
    loom_session *s = lm_check_session(L, 1)->s;
    size_t n = loom_session_node_count(s);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, loom_session_node_at(s, i)->name);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* session:node_info(class) -> the /object_info entry as a table, or nil */
static int session_node_info(lua_State *L)
{
    loom_session *s = lm_check_session(L, 1)->s;
    char *json = loom_session_object_info(s, luaL_checkstring(L, 2));
    if (!json)
        return 0;
    lm_push_json_text(L, json);
    free(json);
    lua_getfield(L, -1, luaL_checkstring(L, 2));
    return 1;
}

static int session_plugin_problems(lua_State *L)
{
    loom_session *s = lm_check_session(L, 1)->s;
    size_t n = loom_session_plugin_problem_count(s);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, loom_session_plugin_problem(s, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int session_cache(lua_State *L)
{
    loom_session *s = lm_check_session(L, 1)->s;
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)loom_cache_entry_count(s));
    lua_setfield(L, -2, "entries");
    lua_pushinteger(L, (lua_Integer)loom_cache_bytes(s));
    lua_setfield(L, -2, "bytes");
    return 1;
}

static int session_cache_clear(lua_State *L)
{
    loom_cache_clear(lm_check_session(L, 1)->s);
    return 0;
}

static int session_dirs(lua_State *L)
{
    loom_session *s = lm_check_session(L, 1)->s;
    lua_pushstring(L, loom_session_models_dir(s));
    lua_pushstring(L, loom_session_output_dir(s));
    return 2;
}

static int session_gc(lua_State *L)
{
    lm_session *u = luaL_checkudata(L, 1, LM_SESSION);
    loom_session_free(u->s);
    u->s = NULL;
    return 0;
}

static int session_tostring(lua_State *L)
{
    lm_session *u = luaL_checkudata(L, 1, LM_SESSION);
    lua_pushfstring(L, "loom.session (%s)", u->s ? "open" : "closed");
    return 1;
}

void lm_session_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"load", lm_session_load},       {"load_string", lm_session_load_string},
        {"graph", lm_session_graph},     {"value", session_value},
        {"interrupt", session_interrupt}, {"nodes", session_nodes},
        {"node_info", session_node_info}, {"plugin_problems", session_plugin_problems},
        {"cache", session_cache},        {"cache_clear", session_cache_clear},
        {"dirs", session_dirs},          {"register_node", lm_session_register_node},
        {"close", session_gc},           {NULL, NULL}};
    if (luaL_newmetatable(L, LM_SESSION)) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, session_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, session_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}
