/* lm_register.c: node types whose body is a Lua function (loom.register_node).
 *
 * A Lua node type is an lm_nodedef: a heap-built loom_node_type (first member, so the
 * registry's release callback gets it back), the inputs and outputs built from the Lua
 * declaration, and a registry reference to the run function. The engine calls
 * lua_node_execute, which runs everything Lua — marshalling inputs, the run function,
 * converting its return values into outputs — inside one lua_pcall, so a Lua error
 * (or a memory error while building a table) becomes a node failure naming the Lua file
 * and line, never a longjmp through the engine. While a node runs, lm_state.ctx points at
 * its context so loom.progress and loom.ui can reach it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm.h"

typedef struct lm_nodedef {
    loom_node_type type;        /* first: release() gets &type back */
    lua_State     *L;           /* main thread of the state that owns run */
    lm_state      *st;
    lm_host       *host;        /* plugin mode: keeps the state open */
    int            fn_ref;
    char           where[256];  /* "nodes/add.lua:12": where run was defined */
    loom_input    *inputs;
    loom_output   *outputs;
    char         **owned;       /* every string the descriptor points to */
    size_t         n_owned, cap_owned;
} lm_nodedef;

static void nodedef_free(lm_nodedef *d)
{
    for (size_t i = 0; i < d->n_owned; i++)
        free(d->owned[i]);
    free(d->owned);
    free(d->inputs);
    free(d->outputs);
    free(d);
}

static void nodedef_release(const loom_node_type *t)
{
    lm_nodedef *d = (lm_nodedef *)t;
    lm_host *h = d->host;
    luaL_unref(d->L, LUA_REGISTRYINDEX, d->fn_ref);
    nodedef_free(d);
    if (h)
        lm_host_unref(h);
}

/* ---- building the descriptor ---------------------------------------------------- */

/* The box frees a half-built nodedef if a Lua error interrupts the build. */
static int box_gc(lua_State *L)
{
    lm_nodedef **box = lua_touserdata(L, 1);
    if (*box) {
        if ((*box)->fn_ref != LUA_NOREF)
            luaL_unref(L, LUA_REGISTRYINDEX, (*box)->fn_ref);
        nodedef_free(*box);
        *box = NULL;
    }
    return 0;
}

static const char *own(lua_State *L, lm_nodedef *d, const char *s)
{
    if (!s)
        return NULL;
    if (d->n_owned == d->cap_owned) {
        size_t cap = d->cap_owned ? d->cap_owned * 2 : 16;
        char **grown = realloc(d->owned, cap * sizeof *grown);
        if (!grown)
            luaL_error(L, "out of memory");
        d->owned = grown;
        d->cap_owned = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        luaL_error(L, "out of memory");
    return d->owned[d->n_owned++] = copy;
}

static const char *opt_field_str(lua_State *L, int t, const char *k, lm_nodedef *d)
{
    lua_getfield(L, t, k);
    const char *s = lua_isnil(L, -1) ? NULL : own(L, d, luaL_checkstring(L, -1));
    lua_pop(L, 1);
    return s;
}

static bool opt_field_num(lua_State *L, int t, const char *k, double *out)
{
    lua_getfield(L, t, k);
    bool has = !lua_isnil(L, -1);
    if (has)
        *out = luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return has;
}

static bool opt_field_bool(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    bool b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

static void build_input(lua_State *L, int t, lm_nodedef *d, loom_input *in)
{
    if (!lua_istable(L, t))
        luaL_error(L, "each input must be a table {name=..., type=...}");
    in->name = opt_field_str(L, t, "name", d);
    in->type = opt_field_str(L, t, "type", d);
    lua_getfield(L, t, "choices");
    if (!in->type && lua_istable(L, -1))
        in->type = LOOM_T_COMBO;
    lua_pop(L, 1);
    if (!in->name || !in->type)
        luaL_error(L, "an input needs a name and a type");
    in->tooltip = opt_field_str(L, t, "tooltip", d);
    if (opt_field_bool(L, t, "optional"))
        in->flags |= LOOM_IN_OPTIONAL;
    if (opt_field_bool(L, t, "multiline"))
        in->flags |= LOOM_IN_MULTILINE;
    if (opt_field_bool(L, t, "force_input"))
        in->flags |= LOOM_IN_FORCE_INPUT;
    if (opt_field_bool(L, t, "control_seed"))
        in->flags |= LOOM_IN_CONTROL_SEED;
    bool has_min = opt_field_num(L, t, "min", &in->min);
    bool has_max = opt_field_num(L, t, "max", &in->max);
    if (has_min || has_max) {
        in->flags |= LOOM_IN_HAS_RANGE;
        if (!has_min)
            in->min = -9007199254740992.0;   /* 2^53: exact in a double */
        if (!has_max)
            in->max = 9007199254740992.0;
    }
    if (opt_field_num(L, t, "step", &in->step))
        in->flags |= LOOM_IN_HAS_STEP;
    lua_getfield(L, t, "default");
    if (lua_isboolean(L, -1))
        in->def = lua_toboolean(L, -1);
    else if (lua_type(L, -1) == LUA_TNUMBER)
        in->def = lua_tonumber(L, -1);
    else if (lua_type(L, -1) == LUA_TSTRING)
        in->def_str = own(L, d, lua_tostring(L, -1));
    else
        in->flags |= LOOM_IN_NO_DEFAULT;
    lua_pop(L, 1);
    if (lua_getfield(L, t, "choices") == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        const char **list = calloc((size_t)n + 1, sizeof *list);
        if (!list)
            luaL_error(L, "out of memory");
        own(L, d, "");                        /* reserve a slot, then swap in the list */
        free(d->owned[d->n_owned - 1]);
        d->owned[d->n_owned - 1] = (char *)list;
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            list[i - 1] = own(L, d, luaL_checkstring(L, -1));
            lua_pop(L, 1);
        }
        in->choices = list;
        if (strcmp(in->type, LOOM_T_COMBO) != 0)
            in->type = LOOM_T_COMBO;
        if (!in->def_str && n > 0)
            in->def_str = list[0];
    }
    lua_pop(L, 1);
}

static void build_output(lua_State *L, int t, lm_nodedef *d, loom_output *out)
{
    if (lua_type(L, t) == LUA_TSTRING) {
        out->type = own(L, d, lua_tostring(L, t));
        return;
    }
    if (!lua_istable(L, t))
        luaL_error(L, "each output must be a type name or a table {type=..., name=...}");
    out->type = opt_field_str(L, t, "type", d);
    out->name = opt_field_str(L, t, "name", d);
    out->tooltip = opt_field_str(L, t, "tooltip", d);
    out->is_list = opt_field_bool(L, t, "is_list");
    if (!out->type)
        luaL_error(L, "an output needs a type");
}

static int lua_node_execute(loom_node_ctx *ctx);

/* Build from the declaration at index 1; leaves the box (owning the nodedef) on top. */
static lm_nodedef *build_nodedef(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lm_nodedef **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    lua_newtable(L);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lm_nodedef *d = *box = calloc(1, sizeof *d);
    if (!d)
        luaL_error(L, "out of memory");
    d->fn_ref = LUA_NOREF;
    d->type.name = opt_field_str(L, 1, "name", d);
    if (!d->type.name)
        luaL_error(L, "register_node: 'name' is required");
    d->type.display_name = opt_field_str(L, 1, "display_name", d);
    d->type.category = opt_field_str(L, 1, "category", d);
    if (!d->type.category)
        d->type.category = "lua";
    d->type.description = opt_field_str(L, 1, "description", d);
    if (opt_field_bool(L, 1, "output_node"))
        d->type.flags |= LOOM_NODE_OUTPUT;
    if (opt_field_bool(L, 1, "not_idempotent"))
        d->type.flags |= LOOM_NODE_NOT_IDEMPOTENT;
    if (opt_field_bool(L, 1, "never_cache"))
        d->type.flags |= LOOM_NODE_NEVER_CACHE;

    if (lua_getfield(L, 1, "inputs") == LUA_TTABLE) {
        size_t n = lua_rawlen(L, -1);
        d->inputs = calloc(n ? n : 1, sizeof *d->inputs);
        if (!d->inputs)
            luaL_error(L, "out of memory");
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            build_input(L, lua_gettop(L), d, &d->inputs[i]);
            d->type.n_inputs = i + 1;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "outputs") == LUA_TTABLE) {
        size_t n = lua_rawlen(L, -1);
        d->outputs = calloc(n ? n : 1, sizeof *d->outputs);
        if (!d->outputs)
            luaL_error(L, "out of memory");
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            build_output(L, lua_gettop(L), d, &d->outputs[i]);
            d->type.n_outputs = i + 1;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    d->type.inputs = d->inputs;
    d->type.outputs = d->outputs;

    if (lua_getfield(L, 1, "run") != LUA_TFUNCTION)
        luaL_error(L, "register_node '%s': 'run' must be a function", d->type.name);
    lua_pushvalue(L, -1);
    lua_Debug ar;
    lua_getinfo(L, ">S", &ar);
    snprintf(d->where, sizeof d->where, "%s:%d", ar.short_src, ar.linedefined);
    d->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    d->L = lua_tothread(L, -1);
    lua_pop(L, 1);
    d->st = lm_state_get(L);
    d->type.execute = lua_node_execute;
    d->type.userdata = d;
    return d;
}

static int register_into(lua_State *L, loom_session *s)
{
    lm_nodedef *d = build_nodedef(L);
    lm_nodedef **box = lua_touserdata(L, -1);
    lm_state *st = d->st;
    loom_error err = {0};
    int rc;
    if (!s && st->registrar) {
        rc = loom_register_node_owned(st->registrar, &d->type, nodedef_release, &err);
        if (rc == LOOM_OK && st->host) {
            d->host = st->host;
            st->host->refs++;
        }
    } else {
        rc = loom_session_register_node(s ? s : lm_default_session(L), &d->type,
                                        nodedef_release, "lua", &err);
    }
    if (rc != LOOM_OK)
        return lm_raise_err(L, &err);   /* the box frees d */
    *box = NULL;                          /* the registry owns d now */
    lua_pushstring(L, d->type.name);
    return 1;
}

/* loom.register_node{...}: into the plugin's registrar when loading node files at
 * session start, else into the default session. Returns the class name. */
int lm_register_node(lua_State *L)
{
    return register_into(L, NULL);
}

/* session:register_node{...} */
int lm_session_register_node(lua_State *L)
{
    loom_session *s = lm_check_session(L, 1)->s;
    lua_remove(L, 1);
    return register_into(L, s);
}

/* ---- running a Lua node ---------------------------------------------------------- */

typedef struct exec_call {
    lm_nodedef    *d;
    loom_node_ctx *ctx;
} exec_call;

static int exec_protected(lua_State *L)
{
    exec_call *c = lua_touserdata(L, 1);
    lm_nodedef *d = c->d;
    lua_rawgeti(L, LUA_REGISTRYINDEX, d->fn_ref);
    lua_createtable(L, 0, (int)d->type.n_inputs);
    for (size_t i = 0; i < d->type.n_inputs; i++) {
        const loom_value *v = loom_in(c->ctx, d->inputs[i].name);
        if (!v)
            continue;
        lm_push_loom_value(L, v);
        lua_setfield(L, -2, d->inputs[i].name);
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, loom_node_id(c->ctx));
    lua_setfield(L, -2, "id");
    lua_pushstring(L, d->type.name);
    lua_setfield(L, -2, "class");
    int base = lua_gettop(L) - 3;
    lua_call(L, 2, (int)d->type.n_outputs);
    for (size_t i = 0; i < d->type.n_outputs; i++) {
        char why[256] = "";
        loom_value *v = lm_to_loom_value(L, base + 1 + (int)i, d->outputs[i].type, why,
                                         sizeof why);
        if (!v)
            return luaL_error(L, "output %d (%s): %s", (int)i, d->outputs[i].type,
                              why[0] ? why : "out of memory");
        if (loom_out(c->ctx, i, v) != LOOM_OK)
            return luaL_error(L, "output %d (%s) could not be set", (int)i, d->outputs[i].type);
    }
    return 0;
}

static int message_handler(lua_State *L)
{
    if (!lua_isstring(L, 1) && luaL_callmeta(L, 1, "__tostring") && lua_isstring(L, -1))
        return 1;
    if (!lua_isstring(L, 1))
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    return 1;
}

static int lua_node_execute(loom_node_ctx *ctx)
{
    lm_nodedef *d = loom_node_userdata(ctx);
    lm_state *st = d->st;
    lua_State *L = st->run_L ? st->run_L : d->L;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 8))
        return loom_node_fail(ctx, "Lua stack overflow running %s", d->type.name);
    exec_call c = {d, ctx};
    loom_node_ctx *saved_ctx = st->ctx;
    bool saved_int = st->interrupted;
    st->ctx = ctx;
    st->interrupted = false;
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, exec_protected);
    lua_pushlightuserdata(L, &c);
    int rc = lua_pcall(L, 1, 0, top + 1);
    bool interrupted = st->interrupted;
    st->ctx = saved_ctx;
    st->interrupted = saved_int;
    if (rc == LUA_OK) {
        lua_settop(L, top);
        return LOOM_OK;
    }
    const char *msg = lua_tostring(L, -1);
    int status;
    if (interrupted)
        status = LOOM_ERR_INTERRUPTED;
    else if (msg && strncmp(msg, d->where, strcspn(d->where, ":") + 1) == 0)
        status = loom_node_fail(ctx, "%s", msg);   /* already names file:line */
    else
        status = loom_node_fail(ctx, "%s (Lua node defined at %s)", msg ? msg : "?", d->where);
    lua_settop(L, top);
    return status;
}

/* ---- inside run: progress and UI ------------------------------------------------- */

static loom_node_ctx *current_ctx(lua_State *L, const char *fn)
{
    lm_state *st = lm_state_get(L);
    if (!st->ctx)
        luaL_error(L, "%s: call it from inside a node's run function", fn);
    return st->ctx;
}

/* loom.progress(i, n [, stats]): report a step; raises "interrupted" when asked to stop.
 * stats (any Lua value) reaches on_step callbacks of a wf:run in the same Lua state. */
int lm_progress(lua_State *L)
{
    loom_node_ctx *ctx = current_ctx(L, "loom.progress");
    lua_Integer i = luaL_checkinteger(L, 1), n = luaL_checkinteger(L, 2);
    lua_settop(L, 3);
    lua_setfield(L, LUA_REGISTRYINDEX, "loom.step_stats");
    int rc = loom_progress(ctx, i, n);
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "loom.step_stats");
    if (rc == LOOM_ERR_INTERRUPTED) {
        lm_state_get(L)->interrupted = true;
        return luaL_error(L, "interrupted");
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* loom.ui(key, value): append value (JSON-able) to the node's UI list `key`. */
int lm_ui(lua_State *L)
{
    loom_node_ctx *ctx = current_ctx(L, "loom.ui");
    const char *key = luaL_checkstring(L, 1);
    luaL_checkany(L, 2);
    char why[256];
    char *json = lm_to_json_text(L, 2, why, sizeof why);
    if (!json)
        return luaL_error(L, "loom.ui: %s", why);
    int rc = loom_ui_append(ctx, key, json);
    free(json);
    if (rc != LOOM_OK)
        return luaL_error(L, "loom.ui: could not append to '%s'", key);
    return 0;
}
