/* test_registry.c: the built-in registry as ComfyUI clients see it — /object_info shape
 * against ComfyUI's own entries (shared/specs/object_info_examples.json), and model
 * COMBOs that list the files of models/<folder> and name the folders when a file is
 * missing. Runs with the built-in plugins; argv: SHARED_DIR FIXTURES_DIR. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "loom/loom.h"

static json_object *get(json_object *o, const char *k)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* Same JSON value; lists of choices are compared as "ours is a subset of theirs". */
static bool same_number(json_object *a, json_object *b)
{
    if (!a || !b)
        return false;
    if (json_object_is_type(a, json_type_int) && json_object_is_type(b, json_type_int))
        return json_object_get_uint64(a) == json_object_get_uint64(b) &&
               json_object_get_int64(a) == json_object_get_int64(b);
    return json_object_get_double(a) == json_object_get_double(b);
}

static void compare_class(json_object *ours, json_object *theirs, const char *cls)
{
    json_object *o = get(ours, cls), *t = get(theirs, cls);
    CHECK_MSG(o && t, "%s missing", cls);
    if (!o || !t)
        return;
    static const char *const keys[] = {"input", "input_order", "output", "output_is_list",
                                       "output_name", "name", "display_name", "description",
                                       "python_module", "category", "output_node"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        CHECK_MSG(get(o, keys[i]), "%s: no '%s'", cls, keys[i]);
    CHECK_STR(json_object_to_json_string(get(o, "output")), json_object_to_json_string(get(t, "output")));
    CHECK_STR(json_object_to_json_string(get(o, "output_node")),
              json_object_to_json_string(get(t, "output_node")));
    CHECK_STR(json_object_get_string(get(o, "category")), json_object_get_string(get(t, "category")));
    /* Input order and each input's type and numeric options, exactly. */
    json_object *oo = get(o, "input_order"), *to = get(t, "input_order");
    CHECK_STR(json_object_to_json_string(get(oo, "required")),
              json_object_to_json_string(get(to, "required")));
    CHECK_STR(json_object_to_json_string(get(oo, "optional")),
              json_object_to_json_string(get(to, "optional")));
    json_object_object_foreach(get(get(t, "input"), "required"), name, tcfg) {
        json_object *ocfg = get(get(get(o, "input"), "required"), name);
        CHECK_MSG(ocfg, "%s.%s missing", cls, name);
        if (!ocfg)
            continue;
        json_object *ttype = json_object_array_get_idx(tcfg, 0), *otype = json_object_array_get_idx(ocfg, 0);
        json_object *topt = json_object_array_get_idx(tcfg, 1), *oopt = json_object_array_get_idx(ocfg, 1);
        if (json_object_is_type(ttype, json_type_array) || !strcmp(json_object_get_string(ttype), "COMBO")) {
            /* A combo: every choice we offer is one ComfyUI offers. */
            json_object *theirs_list = json_object_is_type(ttype, json_type_array) ? ttype : get(topt, "options");
            CHECK_MSG(json_object_is_type(otype, json_type_array), "%s.%s is not a combo", cls, name);
            for (size_t i = 0; otype && i < json_object_array_length(otype); i++) {
                const char *c = json_object_get_string(json_object_array_get_idx(otype, i));
                bool found = false;
                for (size_t j = 0; j < json_object_array_length(theirs_list); j++)
                    found |= !strcmp(c, json_object_get_string(json_object_array_get_idx(theirs_list, j)));
                CHECK_MSG(found, "%s.%s offers '%s', which ComfyUI does not", cls, name, c);
            }
            continue;
        }
        CHECK_STR(json_object_get_string(otype), json_object_get_string(ttype));
        static const char *const num_keys[] = {"default", "min", "max", "step", "round"};
        for (size_t k = 0; k < 5; k++) {
            json_object *tv = get(topt, num_keys[k]);
            if (!tv || json_object_is_type(tv, json_type_string))
                continue;
            if (json_object_is_type(tv, json_type_boolean))
                continue;
            CHECK_MSG(same_number(get(oopt, num_keys[k]), tv), "%s.%s.%s: ours %s, ComfyUI %s", cls,
                      name, num_keys[k], json_object_to_json_string(get(oopt, num_keys[k])),
                      json_object_to_json_string(tv));
        }
        if (get(topt, "control_after_generate"))
            CHECK_MSG(get(oopt, "control_after_generate"), "%s.%s: no control_after_generate", cls, name);
    }
}

static void test_object_info(loom_session *s, const char *shared)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/specs/object_info_examples.json", shared);
    json_object *theirs = json_object_from_file(path);
    CHECK_MSG(theirs, "cannot read %s", path);
    if (!theirs)
        return;
    char *text = loom_session_object_info(s, NULL);
    json_object *ours = text ? json_tokener_parse(text) : NULL;
    CHECK(ours != NULL);
    json_object_object_foreach(theirs, cls, v) {
        (void)v;
        compare_class(ours, theirs, cls);
    }
    /* The seed's max is 2^64-1 exactly, not a rounded double. */
    CHECK_CONTAINS(text, "\"max\":18446744073709551615");
    CHECK(loom_session_object_info(s, "NoSuchClass") == NULL);
    free(text);
    json_object_put(ours);
    json_object_put(theirs);
}

static void test_model_folders(loom_session *s)
{
    char *info = loom_session_object_info(s, "UNETLoader");
    CHECK_CONTAINS(info, "wan2.1_t2v_tiny_fp32.safetensors");
    CHECK_CONTAINS(info, "wan2.1_t2v_tiny_bf16.safetensors");
    free(info);
    loom_workflow *wf;
    loom_error err = {0};
    CHECK(loom_workflow_load_string(s,
        "{\"1\": {\"class_type\": \"UNETLoader\", \"inputs\": {\"unet_name\": \"missing.safetensors\","
        " \"weight_dtype\": \"default\"}},"
        " \"2\": {\"class_type\": \"PreviewAny\", \"inputs\": {\"source\": [\"1\", 0]}}}", &wf, &err) == 0);
    loom_validation *v = loom_validate(s, wf);
    bool named = false;
    for (size_t i = 0; i < loom_validation_count(v); i++) {
        const loom_validation_error *e = loom_validation_get(v, i);
        if (!strcmp(e->type, "value_not_in_list") && strstr(e->details, "missing.safetensors") &&
            strstr(e->details, "/diffusion_models") && strstr(e->details, "/unet"))
            named = true;
    }
    CHECK_MSG(named, "a missing model file must be reported with the folders searched");
    loom_validation_free(v);
    CHECK(loom_workflow_set_input_json(wf, "1", "unet_name", "\"wan2.1_t2v_tiny_fp32.safetensors\"",
                                       &err) == 0);
    v = loom_validate(s, wf);
    for (size_t i = 0; i < loom_validation_count(v); i++)
        CHECK_MSG(strcmp(loom_validation_get(v, i)->type, "value_not_in_list") != 0,
                  "present model file rejected: %s", loom_validation_get(v, i)->details);
    loom_validation_free(v);
    loom_workflow_free(wf);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_registry SHARED_DIR FIXTURES_DIR\n");
        return 2;
    }
    char models[4096];
    snprintf(models, sizeof models, "%s/models", argv[2]);
    loom_options opt = {.models_dir = models, .quiet = true};
    loom_session *s;
    loom_error err = {0};
    CHECK(loom_session_new(&opt, &s, &err) == LOOM_OK);
    CHECK(loom_session_plugin_problem_count(s) == 0);
    test_object_info(s, argv[1]);
    test_model_folders(s);
    loom_session_free(s);
    return check_summary("test_registry");
}
