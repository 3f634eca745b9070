/* example_nodes.c: a small third-party loom plugin — two math nodes.
 *
 * A node type is a static table (inputs, outputs, category) plus one execute function;
 * the plugin exports a single entry point made by LOOM_PLUGIN_DEFINE. Build it against
 * the installed headers and library only (see CMakeLists.txt and docs/plugins.md).
 */
#include <math.h>
#include <string.h>

#include <loom/plugin.h>

/* ExampleIntMath: a op b on integers. */
static const char *const int_ops[] = {"add", "subtract", "multiply", "divide", NULL};

static int int_math(loom_node_ctx *ctx)
{
    int64_t a = loom_in_int(ctx, "a"), b = loom_in_int(ctx, "b"), r;
    const char *op = loom_in_str(ctx, "operation");
    if (!strcmp(op, "add"))
        r = a + b;
    else if (!strcmp(op, "subtract"))
        r = a - b;
    else if (!strcmp(op, "multiply"))
        r = a * b;
    else if (b == 0)
        return loom_node_fail(ctx, "division by zero (b is 0)");
    else
        r = a / b;
    return loom_out(ctx, 0, loom_value_int(r));
}

static const loom_input int_math_in[] = {
    {.name = "a", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 0,
     .min = -1e15, .max = 1e15},
    {.name = "b", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 0,
     .min = -1e15, .max = 1e15},
    {.name = "operation", .type = LOOM_T_COMBO, .choices = int_ops, .def_str = "add"}};
static const loom_output int_out[] = {{.type = "INT", .name = "result"}};

/* ExampleFloatClamp: clamp x into [lo, hi]. */
static int float_clamp(loom_node_ctx *ctx)
{
    double x = loom_in_float(ctx, "x"), lo = loom_in_float(ctx, "lo"), hi = loom_in_float(ctx, "hi");
    if (lo > hi)
        return loom_node_fail(ctx, "lo (%g) is above hi (%g)", lo, hi);
    return loom_out(ctx, 0, loom_value_float(fmin(fmax(x, lo), hi)));
}

static const loom_input clamp_in[] = {
    {.name = "x", .type = LOOM_T_FLOAT},
    {.name = "lo", .type = LOOM_T_FLOAT, .def = 0.0},
    {.name = "hi", .type = LOOM_T_FLOAT, .def = 1.0}};
static const loom_output float_out[] = {{.type = "FLOAT"}};

static const loom_node_type example_nodes[] = {
    {.name = "ExampleIntMath", .display_name = "Int Math (example)", .category = "example/math",
     .inputs = int_math_in, .n_inputs = LOOM_COUNT(int_math_in), .outputs = int_out,
     .n_outputs = LOOM_COUNT(int_out), .execute = int_math},
    {.name = "ExampleFloatClamp", .display_name = "Clamp (example)", .category = "example/math",
     .inputs = clamp_in, .n_inputs = LOOM_COUNT(clamp_in), .outputs = float_out,
     .n_outputs = LOOM_COUNT(float_out), .execute = float_clamp},
};

static int register_example(loom_registrar *reg, loom_error *err)
{
    return loom_register_nodes(reg, example_nodes, LOOM_COUNT(example_nodes), err);
}

LOOM_PLUGIN_DEFINE("example.math", "1.0.0", register_example);
