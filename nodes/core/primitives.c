/* primitives.c: ComfyUI's primitive nodes (PrimitiveInt, PrimitiveFloat, PrimitiveString,
 * PrimitiveStringMultiline, PrimitiveBoolean): a widget value as a node output, so one
 * value can feed several inputs. */
#include "core_nodes.h"

static int pass_value(loom_node_ctx *ctx)
{
    return loom_out(ctx, 0, loom_value_ref(loom_in(ctx, "value")));
}

static const loom_input int_in[] = {
    {.name = "value", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_CONTROL_SEED,
     .def = 0, .min = -9223372036854775807.0, .max = 18446744073709551615.0}};
static const loom_input float_in[] = {
    {.name = "value", .type = LOOM_T_FLOAT, .flags = LOOM_IN_HAS_RANGE, .def = 0,
     .min = -1.7976931348623157e308, .max = 1.7976931348623157e308}};
static const loom_input string_in[] = {{.name = "value", .type = LOOM_T_STRING}};
static const loom_input string_ml_in[] = {
    {.name = "value", .type = LOOM_T_STRING, .flags = LOOM_IN_MULTILINE}};
static const loom_input bool_in[] = {{.name = "value", .type = LOOM_T_BOOLEAN, .def = 0}};

static const loom_output int_out[] = {{.type = "INT"}};
static const loom_output float_out[] = {{.type = "FLOAT"}};
static const loom_output string_out[] = {{.type = "STRING"}};
static const loom_output bool_out[] = {{.type = "BOOLEAN"}};

#define PRIMITIVE(NAME, DISPLAY, IN, OUT)                                                  \
    {.name = NAME, .display_name = DISPLAY, .category = "utils/primitive",               \
     .inputs = IN, .n_inputs = LOOM_COUNT(IN), .outputs = OUT, .n_outputs = LOOM_COUNT(OUT), \
     .execute = pass_value}

static const loom_node_type primitive_nodes[] = {
    PRIMITIVE("PrimitiveInt", "Int", int_in, int_out),
    PRIMITIVE("PrimitiveFloat", "Float", float_in, float_out),
    PRIMITIVE("PrimitiveString", "String", string_in, string_out),
    PRIMITIVE("PrimitiveStringMultiline", "String (Multiline)", string_ml_in, string_out),
    PRIMITIVE("PrimitiveBoolean", "Boolean", bool_in, bool_out),
};

int register_primitive_nodes(loom_registrar *reg, loom_error *err)
{
    return loom_register_nodes(reg, primitive_nodes, LOOM_COUNT(primitive_nodes), err);
}
