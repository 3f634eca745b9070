/* lm_module.c: luaopen_loom — the `loom` module table.
 *
 * Module-level functions act on the state's default session (made on first use and
 * reused, so a script's repeated runs share one engine cache); `loom.session{...}` makes
 * others. In a sandboxed state the functions that reach the file system (loom.load,
 * loom.session, loom.sandbox_file) are left out.
 */
#include <string.h>

#include "lm.h"
#include "loom_lua.h"

/* Call session method `name` on the default session with this call's arguments. */
static int on_default(lua_State *L, lua_CFunction method)
{
    lm_push_default_session(L);
    lua_insert(L, 1);
    return method(L);
}

static int mod_load(lua_State *L)        { return on_default(L, lm_session_load); }
static int mod_load_string(lua_State *L) { return on_default(L, lm_session_load_string); }
static int mod_graph(lua_State *L)       { return on_default(L, lm_session_graph); }

static int mod_default_session(lua_State *L)
{
    return lm_push_default_session(L);
}

static int mod_call_method(lua_State *L, const char *name)
{
    lm_push_default_session(L);
    lua_getfield(L, -1, name);
    lua_insert(L, 1);
    lua_insert(L, 2);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int mod_value(lua_State *L)     { return mod_call_method(L, "value"); }
static int mod_nodes(lua_State *L)     { return mod_call_method(L, "nodes"); }
static int mod_node_info(lua_State *L) { return mod_call_method(L, "node_info"); }

/* loom.interrupt(): stop the default session's run at the next node or progress report */
static int mod_interrupt(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "loom.default_session") == LUA_TUSERDATA)
        loom_interrupt(lm_check_session(L, -1)->s);
    return 0;
}

int luaopen_loom(lua_State *L)
{
    luaL_checkversion(L);
    static const luaL_Reg fns[] = {
        {"session", lm_session_create},  {"default_session", mod_default_session},
        {"load", mod_load},              {"load_string", mod_load_string},
        {"graph", mod_graph},            {"register_node", lm_register_node},
        {"progress", lm_progress},       {"ui", lm_ui},
        {"interrupt", mod_interrupt},    {"value", mod_value},
        {"nodes", mod_nodes},            {"node_info", mod_node_info},
        {"sandbox", lm_sandbox},         {"sandbox_file", lm_sandbox_file},
        {NULL, NULL}};
    lm_state *st = lm_state_get(L);
    lm_session_open(L);
    lm_workflow_open(L);
    lm_node_open(L);
    lm_value_open(L);
    luaL_newlib(L, fns);
    lua_pushstring(L, LOOM_VERSION_STRING);
    lua_setfield(L, -2, "version");
    if (st->sandboxed) {
        static const char *const host_only[] = {"session", "load", "sandbox", "sandbox_file",
                                                NULL};
        for (int i = 0; host_only[i]; i++) {
            lua_pushnil(L);
            lua_setfield(L, -2, host_only[i]);
        }
    }
    return 1;
}
