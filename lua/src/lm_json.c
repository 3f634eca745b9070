/* lm_json.c: converting between Lua values, JSON text and loom values.
 *
 * Workflow inputs and UI outputs are JSON inside the engine; Lua sees them as plain
 * values: numbers (integers stay integers), strings, booleans, and tables (a table whose
 * t[1] is set is an array, any other table an object). A link `["3", 0]` read from a
 * workflow becomes a loom.link table {node = "3", slot = 0}. Node values become Lua values
 * for the widget kinds; an object crosses as a loom.value userdata that keeps a reference,
 * except objects a Lua node made from a Lua value ("Lua objects"), which come back as the
 * very same Lua value when read in the state that made them.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm.h"
#include "loom/types.h"

/* ---- JSON -> Lua ------------------------------------------------------------------ */

static void push_json(lua_State *L, json_object *j, int depth)
{
    luaL_checkstack(L, 4, "JSON too deep");
    switch (json_object_get_type(j)) {
    case json_type_null: lua_pushnil(L); break;
    case json_type_boolean: lua_pushboolean(L, json_object_get_boolean(j)); break;
    case json_type_int:
        if (json_object_get_int64(j) == INT64_MAX && json_object_get_uint64(j) > INT64_MAX)
            lua_pushnumber(L, (lua_Number)json_object_get_uint64(j));
        else
            lua_pushinteger(L, json_object_get_int64(j));
        break;
    case json_type_double: lua_pushnumber(L, json_object_get_double(j)); break;
    case json_type_string:
        lua_pushlstring(L, json_object_get_string(j), (size_t)json_object_get_string_len(j));
        break;
    case json_type_array: {
        size_t n = json_object_array_length(j);
        if (n == 2 && json_object_is_type(json_object_array_get_idx(j, 0), json_type_string) &&
            json_object_is_type(json_object_array_get_idx(j, 1), json_type_int)) {
            lm_push_link(L, json_object_get_string(json_object_array_get_idx(j, 0)),
                         json_object_get_int64(json_object_array_get_idx(j, 1)));
            break;
        }
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n && depth < LM_JSON_MAX_DEPTH; i++) {
            push_json(L, json_object_array_get_idx(j, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case json_type_object:
        lua_newtable(L);
        if (depth >= LM_JSON_MAX_DEPTH)
            break;
        json_object_object_foreach(j, key, val) {
            push_json(L, val, depth + 1);
            lua_setfield(L, -2, key);
        }
        break;
    }
}

int lm_push_json_text(lua_State *L, const char *json)
{
    json_object *j = json ? json_tokener_parse(json) : NULL;
    if (!j && !(json && !strcmp(json, "null"))) {
        lua_pushnil(L);
        return 0;
    }
    push_json(L, j, 0);
    json_object_put(j);
    return 1;
}

/* ---- Lua -> JSON ------------------------------------------------------------------ */

static json_object *to_json(lua_State *L, int idx, int depth, char *why, size_t cap)
{
    idx = lua_absindex(L, idx);
    if (depth > LM_JSON_MAX_DEPTH) {
        snprintf(why, cap, "nested deeper than %d levels", LM_JSON_MAX_DEPTH);
        return NULL;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return json_object_new_null();   /* json-c: NULL is null */
    case LUA_TBOOLEAN: return json_object_new_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_object_new_int64(lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) {
            snprintf(why, cap, "%g cannot be written as JSON", lua_tonumber(L, idx));
            return NULL;
        }
        return json_object_new_double(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return json_object_new_string_len(s, (int)len);
    }
    case LUA_TTABLE: break;
    default:
        snprintf(why, cap, "a %s cannot be written as JSON", luaL_typename(L, idx));
        return NULL;
    }
    luaL_checkstack(L, 4, "table too deep");
    int mt = luaL_getmetafield(L, idx, "__name");
    bool link = mt == LUA_TSTRING && !strcmp(lua_tostring(L, -1), LM_LINK);
    if (mt != LUA_TNIL)
        lua_pop(L, 1);
    if (link) {
        lua_getfield(L, idx, "node");
        lua_getfield(L, idx, "slot");
        json_object *a = json_object_new_array();
        json_object_array_add(a, json_object_new_string(luaL_optstring(L, -2, "")));
        json_object_array_add(a, json_object_new_int64(lua_tointeger(L, -1)));
        lua_pop(L, 2);
        return a;
    }
    bool array = lua_rawgeti(L, idx, 1) != LUA_TNIL;
    lua_pop(L, 1);
    json_object *out = array ? json_object_new_array() : json_object_new_object();
    if (array) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            json_object *e = to_json(L, -1, depth + 1, why, cap);
            lua_pop(L, 1);
            if (!e && why[0]) {
                json_object_put(out);
                return NULL;
            }
            json_object_array_add(out, e);
        }
        return out;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            snprintf(why, cap, "object keys must be strings, not %s", luaL_typename(L, -2));
            lua_pop(L, 2);
            json_object_put(out);
            return NULL;
        }
        json_object *e = to_json(L, -1, depth + 1, why, cap);
        if (!e && why[0]) {
            lua_pop(L, 2);
            json_object_put(out);
            return NULL;
        }
        json_object_object_add(out, lua_tostring(L, -2), e);
        lua_pop(L, 1);
    }
    return out;
}

char *lm_to_json_text(lua_State *L, int idx, char *why, size_t cap)
{
    why[0] = '\0';
    json_object *j = to_json(L, idx, 0, why, cap);
    if (!j && why[0])
        return NULL;
    char *text = strdup(j ? json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN) : "null");
    json_object_put(j);
    if (!text)
        snprintf(why, cap, "out of memory");
    return text;
}

/* ---- loom values <-> Lua ---------------------------------------------------------- */

/* A Lua value stored as a loom object: the key into registry["loom.luaobjs"]. */
typedef struct lua_obj {
    lua_State *L;
} lua_obj;

static void lua_obj_destroy(void *p)
{
    lua_obj *o = p;
    lua_State *L = o->L;
    if (lua_getfield(L, LUA_REGISTRYINDEX, "loom.luaobjs") == LUA_TTABLE) {
        lua_pushnil(L);
        lua_rawsetp(L, -2, o);
    }
    lua_pop(L, 1);
    free(o);
}

static bool push_lua_obj(lua_State *L, const void *p)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "loom.luaobjs") != LUA_TTABLE) {
        lua_pop(L, 1);
        return false;
    }
    if (lua_rawgetp(L, -1, p) == LUA_TNIL) {
        lua_pop(L, 2);
        return false;
    }
    lua_remove(L, -2);
    return true;
}

static loom_value *make_lua_obj(lua_State *L, int idx, const char *type)
{
    idx = lua_absindex(L, idx);
    lua_obj *o = malloc(sizeof *o);
    if (!o)
        return NULL;
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    o->L = lua_tothread(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, LUA_REGISTRYINDEX, "loom.luaobjs") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "loom.luaobjs");
    }
    lua_pushvalue(L, idx);
    lua_rawsetp(L, -2, o);
    lua_pop(L, 1);
    return loom_value_object(type, o, lua_obj_destroy, sizeof *o);
}

void lm_push_loom_value(lua_State *L, const loom_value *v)
{
    switch (loom_value_kind(v)) {
    case LOOM_KIND_INT:
        if (loom_value_is_u64(v))
            lua_pushnumber(L, (lua_Number)loom_value_get_u64(v));
        else
            lua_pushinteger(L, loom_value_get_int(v));
        return;
    case LOOM_KIND_FLOAT: lua_pushnumber(L, loom_value_get_float(v)); return;
    case LOOM_KIND_STRING: lua_pushstring(L, loom_value_get_str(v)); return;
    case LOOM_KIND_BOOL: lua_pushboolean(L, loom_value_get_bool(v)); return;
    case LOOM_KIND_OBJECT: break;
    }
    if (push_lua_obj(L, loom_value_object_ptr(v, NULL)))
        return;
    lm_value *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->v = loom_value_ref(v);
    luaL_setmetatable(L, LM_VALUE);
}

static bool is_type(const char *type, const char *want)
{
    return type && !strcmp(type, want);
}

loom_value *lm_to_loom_value(lua_State *L, int idx, const char *type, char *why, size_t cap)
{
    int t = lua_type(L, idx);
    lm_value *u = luaL_testudata(L, idx, LM_VALUE);
    if (u)
        return loom_value_ref(u->v);
    bool any = !type || !strcmp(type, "*");
    if (is_type(type, "INT") || (any && lua_isinteger(L, idx))) {
        int ok = 0;
        lua_Integer i = lua_tointegerx(L, idx, &ok);
        if (ok && t == LUA_TNUMBER)
            return loom_value_int(i);
        snprintf(why, cap, "expected an integer for INT, got %s", luaL_typename(L, idx));
        return NULL;
    }
    if (is_type(type, "FLOAT") || (any && t == LUA_TNUMBER)) {
        if (t == LUA_TNUMBER)
            return loom_value_float(lua_tonumber(L, idx));
        snprintf(why, cap, "expected a number for FLOAT, got %s", luaL_typename(L, idx));
        return NULL;
    }
    if (is_type(type, "STRING") || (any && t == LUA_TSTRING)) {
        if (t == LUA_TSTRING || t == LUA_TNUMBER)
            return loom_value_string(lua_tostring(L, idx));
        snprintf(why, cap, "expected a string for STRING, got %s", luaL_typename(L, idx));
        return NULL;
    }
    if (is_type(type, "BOOLEAN") || (any && t == LUA_TBOOLEAN)) {
        if (t == LUA_TBOOLEAN)
            return loom_value_bool(lua_toboolean(L, idx));
        snprintf(why, cap, "expected a boolean for BOOLEAN, got %s", luaL_typename(L, idx));
        return NULL;
    }
    if (t == LUA_TNIL) {
        snprintf(why, cap, "returned nil for a %s output", type ? type : "*");
        return NULL;
    }
    return make_lua_obj(L, idx, any ? "LUA" : type);
}

/* ---- the loom.value userdata ------------------------------------------------------ */

/* v.shape ({2, 16, 5, 8, 12}) or v.stats ({min, max, mean, std, count}) of the tensor
 * inside a LATENT, IMAGE, MASK, CONDITIONING or VIDEO; nil for other values. */
static void push_tensor_info(lua_State *L, const loom_tensor *t, bool shape)
{
    loom_stats st;
    if (!t || (!shape && loom_tensor_stats(t, &st, NULL) != LOOM_OK)) {
        lua_pushnil(L);
        return;
    }
    if (shape) {
        lua_createtable(L, t->ndim, 0);
        for (int d = 0; d < t->ndim; d++) {
            lua_pushinteger(L, t->shape[d]);
            lua_rawseti(L, -2, d + 1);
        }
        return;
    }
    lua_createtable(L, 0, 5);
    lua_pushnumber(L, st.min);
    lua_setfield(L, -2, "min");
    lua_pushnumber(L, st.max);
    lua_setfield(L, -2, "max");
    lua_pushnumber(L, st.mean);
    lua_setfield(L, -2, "mean");
    lua_pushnumber(L, st.std);
    lua_setfield(L, -2, "std");
    lua_pushinteger(L, st.count);
    lua_setfield(L, -2, "count");
}

static int value_index(lua_State *L)
{
    lm_value *u = luaL_checkudata(L, 1, LM_VALUE);
    const char *k = luaL_checkstring(L, 2);
    if (!strcmp(k, "type"))
        lua_pushstring(L, loom_value_type(u->v));
    else if (!strcmp(k, "kind"))
        lua_pushstring(L, "object");
    else if (!strcmp(k, "bytes"))
        lua_pushinteger(L, (lua_Integer)loom_value_bytes(u->v));
    else if (!strcmp(k, "shape") || !strcmp(k, "stats"))
        push_tensor_info(L, loom_value_tensor(u->v), k[1] == 'h');
    else
        lua_pushnil(L);
    return 1;
}

static int value_tostring(lua_State *L)
{
    lm_value *u = luaL_checkudata(L, 1, LM_VALUE);
    lua_pushfstring(L, "loom.value<%s>", loom_value_type(u->v));
    return 1;
}

static int value_gc(lua_State *L)
{
    lm_value *u = luaL_checkudata(L, 1, LM_VALUE);
    loom_value_unref(u->v);
    u->v = NULL;
    return 0;
}

void lm_value_open(lua_State *L)
{
    static const luaL_Reg mt[] = {{"__index", value_index}, {"__tostring", value_tostring},
                                  {"__gc", value_gc}, {NULL, NULL}};
    if (luaL_newmetatable(L, LM_VALUE))
        luaL_setfuncs(L, mt, 0);
    lua_pop(L, 1);
}
