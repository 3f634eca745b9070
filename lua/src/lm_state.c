/* lm_state.c: the per-Lua-state data of the binding and the default session.
 *
 * The lm_state userdata sits in the registry under "loom.state" and is made on first use,
 * so every entry point (module, runner, plugin, sandbox) finds the same one. The default
 * session is created lazily by the first module-level call that needs an engine, and kept
 * in the registry so repeated runs in one script share the engine's output cache.
 */
#include <stdlib.h>
#include <string.h>

#include "lm.h"

static int state_gc(lua_State *L)
{
    lm_state *st = lua_touserdata(L, 1);
    free(st->models_dir);
    free(st->output_dir);
    for (int i = 0; st->plugin_dirs[i]; i++)
        free(st->plugin_dirs[i]);
    memset(st->plugin_dirs, 0, sizeof st->plugin_dirs);
    st->models_dir = st->output_dir = NULL;
    return 0;
}

lm_state *lm_state_get(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "loom.state") == LUA_TUSERDATA) {
        lm_state *st = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return st;
    }
    lua_pop(L, 1);
    lm_state *st = lua_newuserdatauv(L, sizeof *st, 0);
    memset(st, 0, sizeof *st);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    st->main = lua_tothread(L, -1);
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "loom.state");
    return st;
}

int lm_push_default_session(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "loom.default_session") == LUA_TUSERDATA)
        return 1;
    lua_pop(L, 1);
    lm_state *st = lm_state_get(L);
    loom_options opt = {.models_dir = st->models_dir, .output_dir = st->output_dir,
                        .plugin_dirs = (const char *const *)st->plugin_dirs, .quiet = true};
    lm_session_new(L, &opt);                      /* raises on failure */
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "loom.default_session");
    return 1;
}

loom_session *lm_default_session(lua_State *L)
{
    lm_push_default_session(L);
    loom_session *s = lm_check_session(L, -1)->s;
    lua_pop(L, 1);   /* still referenced from the registry */
    return s;
}

int lm_raise_err(lua_State *L, const loom_error *err)
{
    return luaL_error(L, "%s", err->msg[0] ? err->msg : loom_status_name(err->code));
}


void lm_host_unref(lm_host *h)
{
    if (h && --h->refs == 0) {
        lua_close(h->L);
        free(h);
    }
}
