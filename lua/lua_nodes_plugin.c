/* lua_nodes_plugin.c: the loom_lua_nodes plugin — Lua node files loaded at session start.
 *
 * When a session loads this plugin, its registration function makes one Lua state for
 * that session, opens the standard libraries and `loom` in it, and runs every *.lua file
 * (in name order) found in the plugin directories it can see: the built-in plugin
 * directory this .so lives in, then each directory of $LOOM_PLUGIN_PATH. Inside those
 * files loom.register_node registers into this plugin's registrar, so the nodes belong
 * to the plugin like C nodes do. The state stays open while any of its node types is
 * registered (lm_host reference count) and closes when the session releases the last one.
 * A file that fails is reported on stderr and skipped; the other files still load.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "loom/plugin.h"
#include "loom_lua.h"
#include "src/lm.h"

/* Directories scanned, at most; more are ignored (named so it can be raised). */
#define LUA_NODES_MAX_DIRS 32

/* A node file that makes a session would load this plugin again from inside its own
 * registration; that inner load registers nothing instead of recursing. */
static int scanning;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

static void run_file(lua_State *L, const char *path)
{
    lua_pushcfunction(L, traceback);
    int rc = luaL_loadfile(L, path);
    if (rc == LUA_OK)
        rc = lua_pcall(L, 0, 0, -2);
    if (rc != LUA_OK)
        fprintf(stderr, "loom: Lua node file skipped: %s\n", lua_tostring(L, -1));
    lua_settop(L, 0);
}

static void scan_dir(lua_State *L, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0)
            continue;
        char **grown = realloc(names, (n + 1) * sizeof *names);
        if (!grown)
            break;
        names = grown;
        if ((names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (len > 0 && (size_t)len < sizeof path)
            run_file(L, path);
        free(names[i]);
    }
    free(names);
}

/* The directory this plugin was loaded from. */
static void own_dir(char *out, size_t cap)
{
    Dl_info info;
    out[0] = '\0';
    if (dladdr((void *)own_dir, &info) && info.dli_fname) {
        snprintf(out, cap, "%s", info.dli_fname);
        char *slash = strrchr(out, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(out, cap, ".");
    }
}

/* Add dir unless it is already listed (compared by real path). */
static int add_dir(char dirs[][PATH_MAX], int n, const char *dir)
{
    char real[PATH_MAX];
    if (n >= LUA_NODES_MAX_DIRS || !dir[0] || !realpath(dir, real))
        return n;
    for (int i = 0; i < n; i++)
        if (!strcmp(dirs[i], real))
            return n;
    snprintf(dirs[n], PATH_MAX, "%s", real);
    return n + 1;
}

static int open_state(lua_State *L)
{
    luaL_openlibs(L);
    lm_state *st = lm_state_get(L);
    st->registrar = lua_touserdata(L, 1);
    st->host = lua_touserdata(L, 2);
    luaL_requiref(L, "loom", luaopen_loom, 1);
    return 0;
}

static int register_lua_nodes(loom_registrar *reg, loom_error *err)
{
    if (scanning)
        return LOOM_OK;
    lm_host *h = calloc(1, sizeof *h);
    if (!h || !(h->L = luaL_newstate())) {
        free(h);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory creating a Lua state");
    }
    h->refs = 1;   /* the scan's own reference, dropped at the end */
    lua_pushcfunction(h->L, open_state);
    lua_pushlightuserdata(h->L, reg);
    lua_pushlightuserdata(h->L, h);
    if (lua_pcall(h->L, 2, 0, 0) != LUA_OK) {
        loom_errorf(err, LOOM_ERR_PLUGIN, "cannot open Lua: %s", lua_tostring(h->L, -1));
        lm_host_unref(h);
        return LOOM_ERR_PLUGIN;
    }
    static char dirs[LUA_NODES_MAX_DIRS][PATH_MAX];
    char here[PATH_MAX];
    own_dir(here, sizeof here);
    int n = add_dir(dirs, 0, here);
    const char *env = getenv("LOOM_PLUGIN_PATH");
    char *copy = env ? strdup(env) : NULL, *save = NULL;
    for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save))
        n = add_dir(dirs, n, d);
    free(copy);
    scanning++;
    for (int i = 0; i < n; i++)
        scan_dir(h->L, dirs[i]);
    scanning--;
    lm_state_get(h->L)->registrar = NULL;   /* later calls go to a session, not here */
    lm_host_unref(h);
    return LOOM_OK;
}

LOOM_PLUGIN_DEFINE("loom_lua_nodes", LOOM_VERSION_STRING, register_lua_nodes);
