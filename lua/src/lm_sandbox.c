/* lm_sandbox.c: running untrusted Lua with no host access and bounded resources.
 *
 * A sandbox is a separate lua_State (nothing of the host state is reachable from it)
 * made with a counting allocator and a count hook:
 *   - memory: the allocator refuses to grow past the limit, so Lua raises "not enough
 *     memory" inside the sandbox and the host is unaffected;
 *   - instructions: the hook fires every LM_SANDBOX_HOOK_EVERY VM instructions; past the
 *     limit it raises an error and re-arms itself to fire on every instruction, so a
 *     script that catches the error with pcall fails again at its very next instruction.
 * Only the base (minus dofile, loadfile, and load of binary chunks), string (minus dump),
 * table, math, utf8 and coroutine libraries are opened; no io, os, debug or package.
 * `require` returns only those libraries and the sandboxed `loom` (no file access).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "lm.h"
#include "loom_lua.h"

/* Instructions between hook calls: small enough to stop within a few microseconds of the
 * limit, large enough that the hook costs nothing measurable. */
#define LM_SANDBOX_HOOK_EVERY 1000

typedef struct sandbox_limits {
    size_t    used, limit;          /* bytes; limit 0 = none */
    long long count, instr_limit;   /* instructions; limit 0 = none */
} sandbox_limits;

static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sandbox_limits *lim = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        lim->used -= old;
        return NULL;
    }
    if (lim->limit && nsize > old && lim->used + (nsize - old) > lim->limit)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    lim->used = lim->used - old + nsize;
    return p;
}

static sandbox_limits *limits_of(lua_State *S)
{
    void *ud;
    lua_getallocf(S, &ud);
    return ud;
}

static void count_hook(lua_State *S, lua_Debug *ar)
{
    (void)ar;
    sandbox_limits *lim = limits_of(S);
    lim->count += LM_SANDBOX_HOOK_EVERY;
    if (lim->instr_limit && lim->count > lim->instr_limit) {
        lua_sethook(S, count_hook, LUA_MASKCOUNT, 1);
        luaL_error(S, "instruction limit exceeded (%I)", (lua_Integer)lim->instr_limit);
    }
}

/* load(chunk [, name [, mode [, env]]]) restricted to text chunks */
static int safe_load(lua_State *S)
{
    int n = lua_gettop(S);
    lua_settop(S, 4);
    lua_pushvalue(S, lua_upvalueindex(1));
    lua_pushvalue(S, 1);
    lua_pushvalue(S, 2);
    lua_pushliteral(S, "t");
    if (n >= 4)
        lua_pushvalue(S, 4);
    lua_call(S, n >= 4 ? 4 : 3, LUA_MULTRET);
    return lua_gettop(S) - 4;
}

static int safe_require(lua_State *S)
{
    const char *name = luaL_checkstring(S, 1);
    lua_getfield(S, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(S, -1, name) != LUA_TNIL)
        return 1;
    return luaL_error(S, "module '%s' is not available in the sandbox", name);
}

static int safe_collectgarbage(lua_State *S)
{
    const char *opt = luaL_optstring(S, 1, "collect");
    if (!strcmp(opt, "count")) {
        lua_pushnumber(S, (lua_Number)lua_gc(S, LUA_GCCOUNT, 0) +
                              lua_gc(S, LUA_GCCOUNTB, 0) / 1024.0);
        return 1;
    }
    if (!strcmp(opt, "collect") || !strcmp(opt, "step")) {
        lua_gc(S, LUA_GCCOLLECT, 0);
        lua_pushinteger(S, 0);
        return 1;
    }
    return luaL_error(S, "collectgarbage('%s') is not available in the sandbox", opt);
}

static int open_safe_libs(lua_State *S)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},          {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table},    {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},    {LUA_COLIBNAME, luaopen_coroutine},
        {NULL, NULL}};
    for (const luaL_Reg *l = libs; l->name; l++) {
        luaL_requiref(S, l->name, l->func, 1);
        lua_pop(S, 1);
    }
    lm_state_get(S)->sandboxed = true;
    luaL_requiref(S, "loom", luaopen_loom, 1);
    lua_pop(S, 1);
    static const char *const removed[] = {"dofile", "loadfile", NULL};
    for (int i = 0; removed[i]; i++) {
        lua_pushnil(S);
        lua_setglobal(S, removed[i]);
    }
    lua_getglobal(S, "string");
    lua_pushnil(S);
    lua_setfield(S, -2, "dump");
    lua_pop(S, 1);
    lua_getglobal(S, "load");
    lua_pushcclosure(S, safe_load, 1);
    lua_setglobal(S, "load");
    lua_pushcfunction(S, safe_require);
    lua_setglobal(S, "require");
    lua_pushcfunction(S, safe_collectgarbage);
    lua_setglobal(S, "collectgarbage");
    return 0;
}

lua_State *lm_sandbox_new(size_t memory, long long instructions)
{
    sandbox_limits *lim = calloc(1, sizeof *lim);
    if (!lim)
        return NULL;
    lim->limit = memory;
    lim->instr_limit = instructions;
    lua_State *S = lua_newstate(sandbox_alloc, lim);
    if (!S) {
        free(lim);
        return NULL;
    }
    lua_pushcfunction(S, open_safe_libs);
    if (lua_pcall(S, 0, 0, 0) != LUA_OK) {
        lm_sandbox_close(S);
        return NULL;
    }
    if (instructions > 0)
        lua_sethook(S, count_hook, LUA_MASKCOUNT, LM_SANDBOX_HOOK_EVERY);
    return S;
}

void lm_sandbox_close(lua_State *S)
{
    if (!S)
        return;
    sandbox_limits *lim = limits_of(S);
    lim->limit = 0;            /* finalizers may allocate while closing */
    lua_close(S);
    free(lim);
}

/* Run code (text only) in a new sandbox; push ok, first result or message. */
static int run_in_sandbox(lua_State *L, const char *code, size_t len, const char *name)
{
    size_t memory = 0;
    long long instructions = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "memory");
        memory = (size_t)luaL_optinteger(L, -1, 0);
        lua_getfield(L, 2, "instructions");
        instructions = (long long)luaL_optinteger(L, -1, 0);
        lua_pop(L, 2);
    }
    lua_State *S = lm_sandbox_new(memory, instructions);
    if (!S)
        return luaL_error(L, "cannot create a sandbox: out of memory");
    int rc = luaL_loadbufferx(S, code, len, name, "t");
    if (rc == LUA_OK)
        rc = lua_pcall(S, 0, 1, 0);
    lua_pushboolean(L, rc == LUA_OK);
    switch (lua_type(S, -1)) {
    case LUA_TNIL: lua_pushnil(L); break;
    case LUA_TBOOLEAN: lua_pushboolean(L, lua_toboolean(S, -1)); break;
    case LUA_TNUMBER:
        if (lua_isinteger(S, -1))
            lua_pushinteger(L, lua_tointeger(S, -1));
        else
            lua_pushnumber(L, lua_tonumber(S, -1));
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(S, -1, &n);
        lua_pushlstring(L, s, n);
        break;
    }
    default:
        lua_pushfstring(L, "(a %s value)", luaL_typename(S, -1));
        break;
    }
    lm_sandbox_close(S);
    return 2;
}

/* loom.sandbox(code [, {memory=, instructions=, name=}]) -> ok, result_or_message */
int lm_sandbox(lua_State *L)
{
    size_t len;
    const char *code = luaL_checklstring(L, 1, &len);
    const char *name = "=sandbox";
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "name");
        name = luaL_optstring(L, -1, name);   /* anchored: table field */
        lua_pop(L, 1);
    }
    return run_in_sandbox(L, code, len, name);
}

/* loom.sandbox_file(path [, opts]): the file is read by the host, run in the sandbox. */
int lm_sandbox_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (lm_state_get(L)->sandboxed)
        return luaL_error(L, "reading files is not available in the sandbox");
    FILE *f = fopen(path, "rb");
    if (!f)
        return luaL_error(L, "cannot open '%s'", path);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        luaL_addlstring(&b, chunk, n);
    fclose(f);
    luaL_pushresult(&b);
    size_t len;
    const char *code = lua_tolstring(L, -1, &len);
    const char *name = lua_pushfstring(L, "@%s", path);
    return run_in_sandbox(L, code, len, name);
}
