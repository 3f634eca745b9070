/* lm_nodehandle.c: node handles, their `inputs` proxy, and links between nodes.
 *
 * A handle is (workflow, node id): reading node.inputs.seed reads the workflow's JSON for
 * that input; writing it (or node:set) writes it back. Input names are checked against
 * the node class declared in the session, so a typo is an error naming the inputs that
 * exist instead of a silently ignored key. node:out(i) / node:out("LATENT") make a
 * loom.link table {node=id, slot=i}; assigning a link (or a handle, meaning slot 0) to an
 * input connects it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm.h"

int lm_node_push(lua_State *L, int wf_idx, const char *id)
{
    wf_idx = lua_absindex(L, wf_idx);
    if (strlen(id) >= LM_ID_MAX)
        return luaL_error(L, "node id too long (limit %d)", LM_ID_MAX - 1);
    lm_node *n = lua_newuserdatauv(L, sizeof *n, 1);
    snprintf(n->id, sizeof n->id, "%s", id);
    luaL_setmetatable(L, LM_NODE);
    lua_pushvalue(L, wf_idx);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

lm_node *lm_check_node(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, LM_NODE);
}

void lm_push_link(lua_State *L, const char *node_id, lua_Integer slot)
{
    lua_createtable(L, 0, 2);
    lua_pushstring(L, node_id);
    lua_setfield(L, -2, "node");
    lua_pushinteger(L, slot);
    lua_setfield(L, -2, "slot");
    luaL_setmetatable(L, LM_LINK);
}

/* The node's class descriptor in the workflow's session; NULL for an unknown class.
 * Raises when the node is gone from the workflow. */
static const loom_node_type *node_type(lua_State *L, int wf_idx, const char *id,
                                       const char **cls)
{
    lm_workflow *w = lm_check_workflow(L, wf_idx);
    *cls = loom_workflow_node_class(w->wf, id);
    if (!*cls)
        luaL_error(L, "workflow has no node '%s'", id);
    return loom_session_node_find(lm_workflow_session(L, wf_idx), *cls);
}

static void check_input_name(lua_State *L, int wf_idx, const char *id, const char *name)
{
    const char *cls;
    const loom_node_type *t = node_type(L, wf_idx, id, &cls);
    if (!t)
        return;   /* unknown class: validation reports it */
    for (size_t i = 0; i < t->n_inputs; i++)
        if (!(t->inputs[i].flags & LOOM_IN_HIDDEN) && !strcmp(t->inputs[i].name, name))
            return;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < t->n_inputs; i++) {
        if (t->inputs[i].flags & LOOM_IN_HIDDEN)
            continue;
        if (luaL_bufflen(&b))
            luaL_addstring(&b, ", ");
        luaL_addstring(&b, t->inputs[i].name);
    }
    luaL_pushresult(&b);
    luaL_error(L, "node %s (%s) has no input '%s' (inputs: %s)", id, cls, name,
               lua_tostring(L, -1));
}

static bool is_link(lua_State *L, int idx)
{
    int t = luaL_getmetafield(L, idx, "__name");
    bool link = t == LUA_TSTRING && !strcmp(lua_tostring(L, -1), LM_LINK);
    if (t != LUA_TNIL)
        lua_pop(L, 1);
    return link;
}

int lm_set_input(lua_State *L, int wf_idx, const char *id, const char *name, int value_idx)
{
    wf_idx = lua_absindex(L, wf_idx);
    value_idx = lua_absindex(L, value_idx);
    int top = lua_gettop(L);
    check_input_name(L, wf_idx, id, name);
    loom_workflow *wf = lm_check_workflow(L, wf_idx)->wf;
    loom_error err = {0};
    int rc;
    lm_node *src = luaL_testudata(L, value_idx, LM_NODE);
    if (lua_isnil(L, value_idx)) {
        rc = loom_workflow_remove_input(wf, id, name, &err);
        if (rc == LOOM_ERR_NOT_FOUND)
            rc = LOOM_OK;   /* removing an absent input is fine */
    } else if (src) {
        rc = loom_workflow_set_link(wf, id, name, src->id, 0, &err);
    } else if (is_link(L, value_idx)) {
        lua_getfield(L, value_idx, "node");
        lua_getfield(L, value_idx, "slot");
        rc = loom_workflow_set_link(wf, id, name, luaL_checkstring(L, -2),
                                    (int)luaL_checkinteger(L, -1), &err);
        lua_pop(L, 2);
    } else {
        char why[256];
        char *json = lm_to_json_text(L, value_idx, why, sizeof why);
        if (!json)
            return luaL_error(L, "input '%s' of node %s: %s", name, id, why);
        rc = loom_workflow_set_input_json(wf, id, name, json, &err);
        free(json);
    }
    if (rc != LOOM_OK)
        return lm_raise_err(L, &err);
    lua_settop(L, top);
    return 0;
}

/* ---- the handle ------------------------------------------------------------------ */

static int node_set(lua_State *L)
{
    lm_node *n = lm_check_node(L, 1);
    const char *name = luaL_checkstring(L, 2);
    luaL_checkany(L, 3);
    lua_getiuservalue(L, 1, 1);
    lm_set_input(L, -1, n->id, name, 3);
    lua_settop(L, 1);
    return 1;   /* the handle, so calls chain */
}

static int get_input(lua_State *L, int wf_idx, const char *id, const char *name)
{
    check_input_name(L, wf_idx, id, name);
    char *json = loom_workflow_get_input_json(lm_check_workflow(L, wf_idx)->wf, id, name);
    if (!json)
        return 0;
    lm_push_json_text(L, json);
    free(json);
    return 1;
}

static int node_get(lua_State *L)
{
    lm_node *n = lm_check_node(L, 1);
    lua_getiuservalue(L, 1, 1);
    return get_input(L, lua_gettop(L), n->id, luaL_checkstring(L, 2));
}

/* node:out(0) or node:out("LATENT") -> link */
static int node_out(lua_State *L)
{
    lm_node *n = lm_check_node(L, 1);
    lua_getiuservalue(L, 1, 1);
    const char *cls;
    const loom_node_type *t = node_type(L, lua_gettop(L), n->id, &cls);
    if (lua_isinteger(L, 2) || lua_isnoneornil(L, 2)) {
        lua_Integer i = luaL_optinteger(L, 2, 0);
        if (i < 0 || (t && (size_t)i >= t->n_outputs))
            return luaL_error(L, "node %s (%s) has no output %d (it has %d)", n->id, cls,
                              (int)i, t ? (int)t->n_outputs : 0);
        lm_push_link(L, n->id, i);
        return 1;
    }
    const char *want = luaL_checkstring(L, 2);
    if (!t)
        return luaL_error(L, "node %s: unknown class '%s', use an output index", n->id, cls);
    for (size_t i = 0; i < t->n_outputs; i++) {
        const char *name = t->outputs[i].name ? t->outputs[i].name : t->outputs[i].type;
        if (!strcmp(name, want) || !strcmp(t->outputs[i].type, want)) {
            lm_push_link(L, n->id, (lua_Integer)i);
            return 1;
        }
    }
    return luaL_error(L, "node %s (%s) has no output named '%s'", n->id, cls, want);
}

static int node_index(lua_State *L)
{
    lm_node *n = lm_check_node(L, 1);
    const char *k = luaL_checkstring(L, 2);
    lua_getiuservalue(L, 1, 1);
    lm_workflow *w = lm_check_workflow(L, -1);
    if (!strcmp(k, "id")) {
        lua_pushstring(L, n->id);
    } else if (!strcmp(k, "class")) {
        lua_pushstring(L, loom_workflow_node_class(w->wf, n->id));
    } else if (!strcmp(k, "title")) {
        lua_pushstring(L, loom_workflow_node_title(w->wf, n->id));
    } else if (!strcmp(k, "inputs")) {
        lm_node *p = lua_newuserdatauv(L, sizeof *p, 1);
        memcpy(p, n, sizeof *p);
        luaL_setmetatable(L, LM_INPUTS);
        lua_pushvalue(L, -2);
        lua_setiuservalue(L, -2, 1);
    } else if (!strcmp(k, "workflow")) {
        /* the workflow itself is already on the stack */
    } else {
        luaL_getmetatable(L, LM_NODE);
        lua_getfield(L, -1, "methods");
        lua_getfield(L, -1, k);
    }
    return 1;
}

static int node_newindex(lua_State *L)
{
    return luaL_error(L, "node fields are read-only; set inputs with node.inputs.%s = v "
                         "or node:set('%s', v)", luaL_checkstring(L, 2), lua_tostring(L, 2));
}

static int node_tostring(lua_State *L)
{
    lm_node *n = lm_check_node(L, 1);
    lua_getiuservalue(L, 1, 1);
    const char *cls = loom_workflow_node_class(lm_check_workflow(L, -1)->wf, n->id);
    lua_pushfstring(L, "node %s (%s)", n->id, cls ? cls : "removed");
    return 1;
}

static int node_eq(lua_State *L)
{
    lm_node *a = luaL_testudata(L, 1, LM_NODE), *b = luaL_testudata(L, 2, LM_NODE);
    bool same = a && b && !strcmp(a->id, b->id);
    if (same) {
        lua_getiuservalue(L, 1, 1);
        lua_getiuservalue(L, 2, 1);
        same = lua_rawequal(L, -1, -2);
    }
    lua_pushboolean(L, same);
    return 1;
}

/* ---- node.inputs ----------------------------------------------------------------- */

static int inputs_index(lua_State *L)
{
    lm_node *n = luaL_checkudata(L, 1, LM_INPUTS);
    lua_getiuservalue(L, 1, 1);
    return get_input(L, lua_gettop(L), n->id, luaL_checkstring(L, 2));
}

static int inputs_newindex(lua_State *L)
{
    lm_node *n = luaL_checkudata(L, 1, LM_INPUTS);
    lua_getiuservalue(L, 1, 1);
    lm_set_input(L, -1, n->id, luaL_checkstring(L, 2), 3);
    return 0;
}

static int link_tostring(lua_State *L)
{
    lua_getfield(L, 1, "node");
    lua_getfield(L, 1, "slot");
    lua_pushfstring(L, "link [%s, %d]", luaL_optstring(L, -2, "?"), (int)lua_tointeger(L, -1));
    return 1;
}

void lm_node_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"set", node_set}, {"get", node_get}, {"out", node_out}, {NULL, NULL}};
    if (luaL_newmetatable(L, LM_NODE)) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "methods");
        lua_pushcfunction(L, node_index);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, node_newindex);
        lua_setfield(L, -2, "__newindex");
        lua_pushcfunction(L, node_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushcfunction(L, node_eq);
        lua_setfield(L, -2, "__eq");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, LM_INPUTS)) {
        lua_pushcfunction(L, inputs_index);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, inputs_newindex);
        lua_setfield(L, -2, "__newindex");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, LM_LINK)) {
        lua_pushcfunction(L, link_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}
