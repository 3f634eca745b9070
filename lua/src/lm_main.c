/* lm_main.c: `loom lua [options] SCRIPT.lua [args]` — the embedded interpreter.
 *
 * Behaves like the stock lua5.4 running a script: the standard libraries are open, the
 * script gets its arguments as `...` and in the global `arg` (arg[0] the script, negative
 * indices the command and options), and an uncaught error prints a traceback and exits 1.
 * `loom` is preloaded (require "loom" or the global `loom`). With --sandbox the script
 * runs in a sandboxed state instead (lm_sandbox.c), with optional limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "lm.h"
#include "loom_lua.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: loom lua [options] SCRIPT.lua [args...]\n"
        "  --sandbox           run without io/os/debug/package and file access\n"
        "  --memory BYTES      sandbox memory limit\n"
        "  --instructions N    sandbox instruction limit\n"
        "  --models DIR        model root of the default session\n"
        "  --out DIR           output directory of the default session\n"
        "  --plugins DIR       extra plugin directory (repeatable)\n");
}

typedef struct runner_opts {
    bool        sandbox;
    size_t      memory;
    long long   instructions;
    const char *models, *out;
    const char *plugins[LM_MAX_PLUGIN_DIRS];
    int         n_plugins;
    int         script;        /* argv index of the script */
} runner_opts;

static int parse(int argc, char **argv, runner_opts *o)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--sandbox")) {
            o->sandbox = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "loom lua: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--memory"))
            o->memory = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--instructions"))
            o->instructions = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--models"))
            o->models = v;
        else if (!strcmp(a, "--out"))
            o->out = v;
        else if (!strcmp(a, "--plugins") && o->n_plugins < LM_MAX_PLUGIN_DIRS)
            o->plugins[o->n_plugins++] = v;
        else {
            fprintf(stderr, "loom lua: unknown option '%s'\n", a);
            return -1;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return -1;
    }
    o->script = i;
    return 1;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Everything that can raise runs here, under pcall. */
static int run_script(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    const runner_opts *o = lua_touserdata(L, 3);
    bool sandboxed = lm_state_get(L)->sandboxed;
    if (!sandboxed) {
        luaL_openlibs(L);
        lm_state *st = lm_state_get(L);
        st->models_dir = o->models ? strdup(o->models) : NULL;
        st->output_dir = o->out ? strdup(o->out) : NULL;
        for (int i = 0; i < o->n_plugins; i++)
            st->plugin_dirs[i] = strdup(o->plugins[i]);
        luaL_requiref(L, "loom", luaopen_loom, 1);
        lua_pop(L, 1);
    }
    lua_createtable(L, argc - o->script, o->script + 1);
    lua_pushstring(L, "loom");
    lua_rawseti(L, -2, -o->script - 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - o->script);
    }
    lua_setglobal(L, "arg");
    const char *script = argv[o->script];
    if (luaL_loadfilex(L, script, sandboxed ? "t" : NULL) != LUA_OK)
        return lua_error(L);
    for (int i = o->script + 1; i < argc; i++)
        lua_pushstring(L, argv[i]);
    lua_call(L, argc - o->script - 1, 0);
    return 0;
}

int loom_lua_main(int argc, char **argv)
{
    runner_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc <= 0)
        return rc == 0 ? 0 : 2;
    lua_State *L = o.sandbox ? lm_sandbox_new(o.memory, o.instructions) : luaL_newstate();
    if (!L) {
        fprintf(stderr, "loom lua: cannot create a Lua state: out of memory\n");
        return 1;
    }
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, run_script);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    lua_pushlightuserdata(L, &o);
    int status = lua_pcall(L, 3, 0, 1);
    if (status != LUA_OK)
        fprintf(stderr, "loom lua: %s\n", lua_tostring(L, -1));
    if (o.sandbox)
        lm_sandbox_close(L);
    else
        lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
