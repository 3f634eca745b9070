/* object_info.c: the registry as ComfyUI's /object_info JSON.
 *
 * Key order follows ComfyUI's server (input, input_order, output, output_is_list,
 * output_name, name, display_name, description, python_module, category, output_node,
 * then optional keys), and option order follows its node definitions (default, min,
 * max, step, round, then flags and tooltip), so the frontend and API clients see what
 * they expect and diffs against a real server stay small.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"
#include "object_info.h"
#include "registry.h"
#include "session.h"
#include "validate.h"

json_object *object_info_number(const loom_input *in, double x)
{
    if (strcmp(in->type, LOOM_T_INT) == 0) {
        if (x >= 18446744073709551615.0)
            return json_object_new_uint64(UINT64_MAX);
        if (x >= 9223372036854775807.0)
            return json_object_new_uint64((uint64_t)x);
        return json_object_new_int64((int64_t)x);
    }
    return json_object_new_double(x);
}

json_object *object_info_input_config(const loom_input *in, const char *models_dir)
{
    json_object *cfg = json_object_new_array();
    json_object *opts = json_object_new_object();
    bool is_int = !strcmp(in->type, LOOM_T_INT), is_float = !strcmp(in->type, LOOM_T_FLOAT);
    bool is_num = is_int || is_float;
    if (input_is_combo(in)) {
        char **choices = input_choices(in, models_dir);
        json_object *list = json_object_new_array();
        for (char **c = choices; c && *c; c++)
            json_object_array_add(list, json_object_new_string(*c));
        models_list_free(choices);
        json_object_array_add(cfg, list);
        if (in->def_str)
            json_object_object_add(opts, "default", json_object_new_string(in->def_str));
        if (in->flags & LOOM_IN_UPLOAD_IMAGE)
            json_object_object_add(opts, "image_upload", json_object_new_boolean(1));
    } else {
        json_object_array_add(cfg, json_object_new_string(in->type));
        if (!(in->flags & LOOM_IN_NO_DEFAULT)) {
            if (is_num)
                json_object_object_add(opts, "default", object_info_number(in, in->def));
            else if (!strcmp(in->type, LOOM_T_BOOLEAN))
                json_object_object_add(opts, "default", json_object_new_boolean(in->def != 0));
            else if (!strcmp(in->type, LOOM_T_STRING))
                json_object_object_add(opts, "default",
                                       json_object_new_string(in->def_str ? in->def_str : ""));
        }
        if (is_num && (in->flags & LOOM_IN_HAS_RANGE)) {
            json_object_object_add(opts, "min", object_info_number(in, in->min));
            json_object_object_add(opts, "max", object_info_number(in, in->max));
        }
        if (is_num && (in->flags & LOOM_IN_HAS_STEP))
            json_object_object_add(opts, "step", object_info_number(in, in->step));
        if (is_float && (in->flags & LOOM_IN_HAS_ROUND))
            json_object_object_add(opts, "round", json_object_new_double(in->round));
        if (is_int && (in->flags & LOOM_IN_CONTROL_SEED))
            json_object_object_add(opts, "control_after_generate", json_object_new_boolean(1));
        if (in->flags & LOOM_IN_MULTILINE)
            json_object_object_add(opts, "multiline", json_object_new_boolean(1));
        if (in->flags & LOOM_IN_DYNAMIC_PROMPTS)
            json_object_object_add(opts, "dynamicPrompts", json_object_new_boolean(1));
        if (in->flags & LOOM_IN_FORCE_INPUT)
            json_object_object_add(opts, "forceInput", json_object_new_boolean(1));
    }
    if (in->flags & LOOM_IN_ADVANCED)
        json_object_object_add(opts, "advanced", json_object_new_boolean(1));
    if (in->tooltip)
        json_object_object_add(opts, "tooltip", json_object_new_string(in->tooltip));
    if (json_object_object_length(opts) > 0)
        json_object_array_add(cfg, opts);
    else
        json_object_put(opts);
    return cfg;
}

static json_object *node_info(const loom_session *s, const loom_node_type *t)
{
    json_object *node = json_object_new_object();
    json_object *input = json_object_new_object(), *order = json_object_new_object();
    static const char *const groups[] = {"required", "optional", "hidden"};
    for (int g = 0; g < 3; g++) {
        json_object *grp = NULL, *ord = NULL;
        for (size_t i = 0; i < t->n_inputs; i++) {
            const loom_input *in = &t->inputs[i];
            int which = (in->flags & LOOM_IN_HIDDEN) ? 2 : (in->flags & LOOM_IN_OPTIONAL) ? 1 : 0;
            if (which != g)
                continue;
            if (!grp) {
                grp = json_object_new_object();
                ord = json_object_new_array();
            }
            json_object_object_add(grp, in->name,
                                   g == 2 ? json_object_new_string(in->type)
                                          : object_info_input_config(in, s->models_dir));
            json_object_array_add(ord, json_object_new_string(in->name));
        }
        if (grp) {
            json_object_object_add(input, groups[g], grp);
            json_object_object_add(order, groups[g], ord);
        }
    }
    if (!json_object_object_length(input))
        json_object_object_add(input, "required", json_object_new_object());
    json_object_object_add(node, "input", input);
    json_object_object_add(node, "input_order", order);
    json_object *out = json_object_new_array(), *is_list = json_object_new_array(),
                *names = json_object_new_array(), *tips = json_object_new_array();
    bool any_tip = false;
    for (size_t i = 0; i < t->n_outputs; i++) {
        const loom_output *o = &t->outputs[i];
        json_object_array_add(out, json_object_new_string(o->type));
        json_object_array_add(is_list, json_object_new_boolean(o->is_list));
        json_object_array_add(names, json_object_new_string(o->name ? o->name : o->type));
        json_object_array_add(tips, o->tooltip ? json_object_new_string(o->tooltip) : NULL);
        any_tip |= o->tooltip != NULL;
    }
    json_object_object_add(node, "output", out);
    json_object_object_add(node, "output_is_list", is_list);
    json_object_object_add(node, "output_name", names);
    json_object_object_add(node, "name", json_object_new_string(t->name));
    json_object_object_add(node, "display_name",
                           json_object_new_string(t->display_name ? t->display_name : t->name));
    json_object_object_add(node, "description",
                           json_object_new_string(t->description ? t->description : ""));
    const char *module = registry_module(s->reg, t->name);
    json_object_object_add(node, "python_module", json_object_new_string(module ? module : "loom"));
    json_object_object_add(node, "category", json_object_new_string(t->category ? t->category : "loom"));
    json_object_object_add(node, "output_node", json_object_new_boolean(t->flags & LOOM_NODE_OUTPUT));
    if (any_tip)
        json_object_object_add(node, "output_tooltips", tips);
    else
        json_object_put(tips);
    if (t->flags & LOOM_NODE_DEPRECATED)
        json_object_object_add(node, "deprecated", json_object_new_boolean(1));
    if (t->flags & LOOM_NODE_EXPERIMENTAL)
        json_object_object_add(node, "experimental", json_object_new_boolean(1));
    return node;
}

char *loom_session_object_info(loom_session *s, const char *class_type)
{
    json_object *root = json_object_new_object();
    for (size_t i = 0; i < registry_count(s->reg); i++) {
        const loom_node_type *t = registry_at(s->reg, i);
        if (class_type && strcmp(class_type, t->name) != 0)
            continue;
        json_object_object_add(root, t->name, node_info(s, t));
    }
    char *out = NULL;
    if (!class_type || json_object_object_length(root) > 0)
        out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
    return out;
}
