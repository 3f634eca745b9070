/* lm_workflow.c: the loom.workflow userdata — an editable API-format workflow.
 *
 * A workflow is bound to the session it was loaded or built with (its user value): that
 * session's registry names the inputs and outputs of each node class, so wf:add can refuse
 * an unknown class and node:out("LATENT") can find a slot by name, and wf:run runs there.
 * Node handles (lm_nodehandle.c) hold only the workflow and a node id, so a handle stays
 * valid while the workflow is edited and simply stops resolving once its node is removed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "lm.h"

int lm_workflow_push(lua_State *L, loom_workflow *wf, int session_idx)
{
    session_idx = lua_absindex(L, session_idx);
    lm_workflow *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->wf = wf;
    luaL_setmetatable(L, LM_WORKFLOW);
    lua_pushvalue(L, session_idx);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

lm_workflow *lm_check_workflow(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, LM_WORKFLOW);
}

loom_session *lm_workflow_session(lua_State *L, int wf_idx)
{
    lua_getiuservalue(L, wf_idx, 1);
    loom_session *s = lm_check_session(L, -1)->s;
    lua_pop(L, 1);
    return s;
}

/* An id from a string, a number or a node handle. */
static const char *arg_node_id(lua_State *L, int idx)
{
    lm_node *n = luaL_testudata(L, idx, LM_NODE);
    if (n)
        return n->id;
    return luaL_checkstring(L, idx);
}

/* wf:node(id_or_title) -> handle, or nil when there is no such node */
static int wf_node(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    const char *id = loom_workflow_find_node(u->wf, arg_node_id(L, 2));
    if (!id)
        return 0;
    return lm_node_push(L, 1, id);
}

/* Fill a widget input the caller left out with its declared default, as ComfyUI's
 * frontend does when a node is placed; inputs without a default stay missing. */
static void fill_default(loom_workflow *wf, const char *id, const loom_input *in)
{
    if (in->flags & (LOOM_IN_HIDDEN | LOOM_IN_OPTIONAL | LOOM_IN_NO_DEFAULT | LOOM_IN_FORCE_INPUT))
        return;
    char *have = loom_workflow_get_input_json(wf, id, in->name);
    if (have) {
        free(have);
        return;
    }
    char json[64];
    const char *text = NULL;
    if (!strcmp(in->type, LOOM_T_INT) && in->def >= -9.2e18 && in->def <= 9.2e18) {
        snprintf(json, sizeof json, "%lld", (long long)in->def);
        text = json;
    } else if (!strcmp(in->type, LOOM_T_FLOAT)) {
        snprintf(json, sizeof json, "%.17g", in->def);
        text = json;
    } else if (!strcmp(in->type, LOOM_T_BOOLEAN)) {
        text = in->def != 0 ? "true" : "false";
    } else if (!strcmp(in->type, LOOM_T_STRING) || !strcmp(in->type, LOOM_T_COMBO)) {
        const char *def = in->def_str;
        if (!def && in->choices && in->choices[0])
            def = in->choices[0];
        if (!def && !strcmp(in->type, LOOM_T_STRING))
            def = "";
        if (def) {
            json_object *j = json_object_new_string(def);
            loom_workflow_set_input_json(wf, id, in->name,
                                         json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                                         NULL);
            json_object_put(j);
        }
        return;
    }
    if (text)
        loom_workflow_set_input_json(wf, id, in->name, text, NULL);
}

/* wf:add(class, {inputs}, {id=}) -> handle; widget inputs not given get their defaults */
static int wf_add(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    const char *cls = luaL_checkstring(L, 2);
    const char *want_id = NULL;
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "id");
        want_id = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    }
    const loom_node_type *type = loom_session_node_find(lm_workflow_session(L, 1), cls);
    if (!type)
        return luaL_error(L, "unknown node type '%s' (not registered in this session; "
                             "see loom.nodes())", cls);
    loom_error err = {0};
    const char *id = loom_workflow_add_node(u->wf, want_id, cls, &err);
    if (!id)
        return lm_raise_err(L, &err);
    char idbuf[LM_ID_MAX];
    snprintf(idbuf, sizeof idbuf, "%s", id);
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "wf:add: input names must be strings");
            lm_set_input(L, 1, idbuf, lua_tostring(L, -2), lua_gettop(L));
            lua_pop(L, 1);
        }
    }
    for (size_t i = 0; i < type->n_inputs; i++)
        fill_default(u->wf, idbuf, &type->inputs[i]);
    return lm_node_push(L, 1, idbuf);
}

static int wf_remove(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    loom_error err = {0};
    if (loom_workflow_remove_node(u->wf, arg_node_id(L, 2), &err) != LOOM_OK)
        return lm_raise_err(L, &err);
    return 0;
}

static int wf_json(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    char *json = loom_workflow_to_json(u->wf, lua_toboolean(L, 2));
    if (!json)
        return luaL_error(L, "out of memory");
    lua_pushstring(L, json);
    free(json);
    return 1;
}

/* wf:save(path): write the API-format JSON */
static int wf_save(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (lm_state_get(L)->sandboxed)
        return luaL_error(L, "writing files is not available in the sandbox");
    char *json = loom_workflow_to_json(u->wf, true);
    FILE *f = json ? fopen(path, "w") : NULL;
    bool ok = f && fputs(json, f) >= 0;
    if (f && fclose(f) != 0)
        ok = false;
    free(json);
    if (!ok)
        return luaL_error(L, "cannot write workflow to '%s'", path);
    return 0;
}

static int wf_nodes_iter(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(1));
    if ((size_t)i >= loom_workflow_node_count(u->wf))
        return 0;
    lua_pushinteger(L, i + 1);
    lua_replace(L, lua_upvalueindex(1));
    return lm_node_push(L, 1, loom_workflow_node_id(u->wf, (size_t)i));
}

/* for node in wf:nodes() do ... end, in id order */
static int wf_nodes(lua_State *L)
{
    lm_check_workflow(L, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, wf_nodes_iter, 1);
    lua_pushvalue(L, 1);
    return 2;
}

static int wf_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)loom_workflow_node_count(lm_check_workflow(L, 1)->wf));
    return 1;
}

static int wf_clone(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    loom_workflow *copy = loom_workflow_clone(u->wf);
    if (!copy)
        return luaL_error(L, "out of memory");
    lua_getiuservalue(L, 1, 1);
    return lm_workflow_push(L, copy, -1);
}

/* wf:set("KSampler.seed=42"): the CLI's --set, checked against the session's node types
 * when the workflow belongs to a session */
static int wf_set(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    const char *assignment = luaL_checkstring(L, 2);
    lua_getiuservalue(L, 1, 1);
    lm_session *ses = luaL_testudata(L, -1, LM_SESSION);
    lua_pop(L, 1);
    loom_error err = {0};
    int rc = ses && ses->s ? loom_session_apply_set(ses->s, u->wf, assignment, &err)
                           : loom_workflow_apply_set(u->wf, assignment, &err);
    if (rc != LOOM_OK)
        return lm_raise_err(L, &err);
    return 0;
}

static int wf_session(lua_State *L)
{
    lm_check_workflow(L, 1);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

/* wf:value(node, slot): an output of the last run (see session:value) */
static int wf_value(lua_State *L)
{
    lm_check_workflow(L, 1);
    const char *id = arg_node_id(L, 2);
    lua_getiuservalue(L, 1, 1);
    lua_getfield(L, -1, "value");
    lua_insert(L, -2);
    lua_pushstring(L, id);
    lua_pushinteger(L, luaL_optinteger(L, 3, 0));
    lua_call(L, 3, 1);
    return 1;
}

static int wf_gc(lua_State *L)
{
    lm_workflow *u = luaL_checkudata(L, 1, LM_WORKFLOW);
    loom_workflow_free(u->wf);
    u->wf = NULL;
    return 0;
}

static int wf_tostring(lua_State *L)
{
    lm_workflow *u = lm_check_workflow(L, 1);
    lua_pushfstring(L, "loom.workflow (%d nodes)", (int)loom_workflow_node_count(u->wf));
    return 1;
}

void lm_workflow_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"node", wf_node},   {"add", wf_add},         {"remove", wf_remove},
        {"json", wf_json},   {"save", wf_save},       {"nodes", wf_nodes},
        {"clone", wf_clone}, {"set", wf_set},         {"session", wf_session},
        {"value", wf_value}, {"validate", lm_workflow_validate},
        {"run", lm_workflow_run}, {NULL, NULL}};
    if (luaL_newmetatable(L, LM_WORKFLOW)) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, wf_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, wf_len);
        lua_setfield(L, -2, "__len");
        lua_pushcfunction(L, wf_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}
