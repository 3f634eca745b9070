/* test_plugins.c: broken plugins are reported by path and reason and skipped; the
 * session keeps working and nothing a failed plugin registered stays behind. */
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "loom/loom.h"

static const char *problem_for(loom_session *s, const char *path_part)
{
    for (size_t i = 0; i < loom_session_plugin_problem_count(s); i++)
        if (strstr(loom_session_plugin_problem(s, i), path_part))
            return loom_session_plugin_problem(s, i);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_plugins DIR_WITH_BAD_PLUGINS\n");
        return 2;
    }
    const char *dirs[] = {argv[1], NULL};
    loom_options opt = {.plugin_dirs = dirs, .quiet = true};
    loom_session *s;
    loom_error err = {0};
    CHECK(loom_session_new(&opt, &s, &err) == LOOM_OK);
    CHECK(loom_session_plugin_problem_count(s) == 5);
    CHECK_CONTAINS(problem_for(s, "bad_abi"), "ABI 42");
    CHECK_CONTAINS(problem_for(s, "bad_size"), "descriptor sizes differ");
    CHECK_CONTAINS(problem_for(s, "bad_register"), "the example refuses to register");
    CHECK_CONTAINS(problem_for(s, "bad_duplicate"), "'PrimitiveInt' is already registered");
    CHECK_CONTAINS(problem_for(s, "bad_noentry"), "no 'loom_plugin_entry' entry point");
    /* Rolled back: the node the failing plugins registered first is gone. */
    CHECK(loom_session_node_find(s, "BadPluginFirstNode") == NULL);
    /* The built-ins still work. */
    CHECK(loom_session_node_find(s, "PrimitiveInt") != NULL);
    loom_workflow *wf;
    CHECK(loom_workflow_load_string(s, "{\"1\": {\"class_type\": \"PrimitiveInt\", \"inputs\":"
                                       " {\"value\": 3}}, \"2\": {\"class_type\": \"PreviewAny\","
                                       " \"inputs\": {\"source\": [\"1\", 0]}}}", &wf, &err) == 0);
    CHECK(loom_run(s, wf, NULL, &err) == LOOM_OK);
    char *out = loom_session_last_outputs(s);
    CHECK_CONTAINS(out, "{\"2\":{\"text\":[\"3\"]}}");
    free(out);
    loom_workflow_free(wf);
    CHECK(loom_session_load_plugin(s, "/no/such/plugin.so", &err) == LOOM_ERR_NOT_FOUND);
    CHECK_CONTAINS(err.msg, "/no/such/plugin.so");
    loom_session_free(s);
    return check_summary("test_plugins");
}
