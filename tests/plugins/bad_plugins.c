/* bad_plugins.c: one source, several broken plugins (chosen with -DBAD_KIND=...), for
 * the loader's error paths: wrong ABI, wrong struct size, failing registration,
 * duplicate class, and (with no entry point at all) a library that is not a plugin. */
#include "loom/plugin.h"

static int never(loom_node_ctx *ctx) { return loom_node_fail(ctx, "unused"); }
static const loom_output int_out[] = {{.type = "INT"}};
static const loom_node_type dup_type = {.name = "PrimitiveInt", .outputs = int_out,
                                        .n_outputs = 1, .execute = never};
static const loom_node_type first_type = {.name = "BadPluginFirstNode", .outputs = int_out,
                                          .n_outputs = 1, .execute = never};

__attribute__((unused)) static int register_dup(loom_registrar *reg, loom_error *err)
{
    int rc = loom_register_node(reg, &first_type, err);
    return rc ? rc : loom_register_node(reg, &dup_type, err);
}

__attribute__((unused)) static int register_fail(loom_registrar *reg, loom_error *err)
{
    loom_register_node(reg, &first_type, err);
    return loom_errorf(err, LOOM_ERR_PLUGIN, "the example refuses to register");
}

#if BAD_KIND == 1   /* wrong ABI version */
LOOM_EXPORT const loom_plugin_info loom_plugin_entry = {
    LOOM_PLUGIN_ABI_VERSION + 41, sizeof(loom_node_type), sizeof(loom_input),
    sizeof(loom_output), "bad.abi", "0", register_dup};
#elif BAD_KIND == 2 /* struct size from another build */
LOOM_EXPORT const loom_plugin_info loom_plugin_entry = {
    LOOM_PLUGIN_ABI_VERSION, sizeof(loom_node_type) + 8, sizeof(loom_input),
    sizeof(loom_output), "bad.size", "0", register_dup};
#elif BAD_KIND == 3
LOOM_PLUGIN_DEFINE("bad.register", "0", register_fail);
#elif BAD_KIND == 4
LOOM_PLUGIN_DEFINE("bad.duplicate", "0", register_dup);
#else               /* no entry point */
LOOM_EXPORT int not_a_plugin(void) { return 42; }
#endif
