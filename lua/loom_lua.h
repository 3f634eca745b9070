/* loom_lua.h: the Lua binding's public entry points.
 *
 * The same sources build the `loom` module for the stock lua5.4 interpreter
 * (`require "loom"`), the static library loom_lua_embed behind `loom lua SCRIPT.lua`,
 * and the plugin that loads Lua node files from the plugin search path.
 */
#ifndef LOOM_LUA_H
#define LOOM_LUA_H

#ifdef __cplusplus
extern "C" {
#endif

struct lua_State;

/* Open the `loom` module: leaves the module table on the stack (lua_CFunction). */
int luaopen_loom(struct lua_State *L);

/* `loom lua [options] SCRIPT.lua [args]`: argv[0] is the command name ("lua"), like a
 * CLI subcommand's argv. Options: --sandbox, --memory BYTES, --instructions N,
 * --models DIR, --out DIR, --plugins DIR. Returns the process exit status. */
int loom_lua_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
