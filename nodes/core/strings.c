/* strings.c: text nodes with ComfyUI's names (StringConcatenate), used to assemble
 * prompts inside a workflow. */
#include <stdlib.h>
#include <string.h>

#include "core_nodes.h"

static int concatenate(loom_node_ctx *ctx)
{
    const char *a = loom_in_str(ctx, "string_a"), *b = loom_in_str(ctx, "string_b"),
               *d = loom_in_str(ctx, "delimiter");
    size_t n = strlen(a) + strlen(d) + strlen(b) + 1;
    char *s = malloc(n);
    if (!s)
        return loom_node_fail_code(ctx, LOOM_ERR_NOMEM, "out of memory");
    strcpy(s, a);
    strcat(s, d);
    strcat(s, b);
    int rc = loom_out(ctx, 0, loom_value_string(s));
    free(s);
    return rc;
}

static const loom_input concat_in[] = {
    {.name = "string_a", .type = LOOM_T_STRING, .flags = LOOM_IN_MULTILINE},
    {.name = "string_b", .type = LOOM_T_STRING, .flags = LOOM_IN_MULTILINE},
    {.name = "delimiter", .type = LOOM_T_STRING, .def_str = ""}};
static const loom_output string_out[] = {{.type = "STRING"}};

static const loom_node_type concat_node = {
    .name = "StringConcatenate", .display_name = "Concatenate", .category = "utils/string",
    .inputs = concat_in, .n_inputs = LOOM_COUNT(concat_in),
    .outputs = string_out, .n_outputs = LOOM_COUNT(string_out), .execute = concatenate};

int register_string_nodes(loom_registrar *reg, loom_error *err)
{
    return loom_register_node(reg, &concat_node, err);
}
