/* plugin.c: entry point of the core utility node plugin. */
#include "core_nodes.h"

static int register_all(loom_registrar *reg, loom_error *err)
{
    int rc;
    if ((rc = register_primitive_nodes(reg, err)) || (rc = register_string_nodes(reg, err)) ||
        (rc = register_preview_nodes(reg, err)))
        return rc;
    return LOOM_OK;
}

LOOM_PLUGIN_DEFINE("loom.core", "0.1.0", register_all);
