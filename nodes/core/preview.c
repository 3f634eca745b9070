/* preview.c: PreviewAny (ComfyUI's "Preview Any"): an output node that shows any value
 * as text in its UI output, so a workflow without files still has a result. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core_nodes.h"

static void describe(const loom_value *v, char *buf, size_t cap)
{
    switch (loom_value_kind(v)) {
    case LOOM_KIND_INT:
        if (loom_value_is_u64(v))
            snprintf(buf, cap, "%llu", (unsigned long long)loom_value_get_u64(v));
        else
            snprintf(buf, cap, "%lld", (long long)loom_value_get_int(v));
        break;
    case LOOM_KIND_FLOAT:
        snprintf(buf, cap, "%.17g", loom_value_get_float(v));
        break;
    case LOOM_KIND_BOOL:
        snprintf(buf, cap, "%s", loom_value_get_bool(v) ? "true" : "false");
        break;
    case LOOM_KIND_STRING:
        snprintf(buf, cap, "%s", loom_value_get_str(v));
        break;
    case LOOM_KIND_OBJECT:
        snprintf(buf, cap, "<%s>", loom_value_type(v));
        break;
    }
}

static int preview_any(loom_node_ctx *ctx)
{
    char text[4096];
    describe(loom_in(ctx, "source"), text, sizeof text);
    json_object *s = json_object_new_string(text);
    int rc = loom_ui_append(ctx, "text", json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN));
    json_object_put(s);
    return rc;
}

static const loom_input preview_in[] = {{.name = "source", .type = "*"}};

static const loom_node_type preview_node = {
    .name = "PreviewAny", .display_name = "Preview Any", .category = "utils",
    .description = "Shows any value as text.", .inputs = preview_in,
    .n_inputs = LOOM_COUNT(preview_in), .flags = LOOM_NODE_OUTPUT, .execute = preview_any};

int register_preview_nodes(loom_registrar *reg, loom_error *err)
{
    return loom_register_node(reg, &preview_node, err);
}
