/* cmd_validate.c: `loom validate` and `loom convert`. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_validate(int argc, char **argv)
{
    static const char usage[] = "loom validate WORKFLOW.json [--json]";
    cli_common c = {0};
    const char *path = NULL;
    bool as_json = false;
    if (cli_parse(argc, argv, &c, "--json", &as_json, &path, usage))
        return 2;
    if (!path) {
        fprintf(stderr, "usage: %s\n", usage);
        return 2;
    }
    loom_session *s;
    loom_workflow *wf;
    if (cli_open_workflow(&c, path, &s, &wf))
        return 1;
    loom_validation *v = loom_validate(s, wf);
    int rc = loom_validation_ok(v) ? 0 : 1;
    if (as_json) {
        char *j = loom_validation_to_json(v, true);
        printf("%s\n", j ? j : "{}");
        free(j);
    } else if (rc == 0) {
        printf("%s: valid (%zu nodes)\n", path, loom_workflow_node_count(wf));
    } else {
        cli_print_problems(path, v, "");
    }
    loom_validation_free(v);
    loom_workflow_free(wf);
    loom_session_free(s);
    return rc;
}

int cmd_convert(int argc, char **argv)
{
    static const char usage[] = "loom convert WORKFLOW_UI.json";
    cli_common c = {0};
    const char *path = NULL;
    if (cli_parse(argc, argv, &c, NULL, NULL, &path, usage))
        return 2;
    if (!path) {
        fprintf(stderr, "usage: %s\n", usage);
        return 2;
    }
    loom_session *s;
    loom_workflow *wf;
    if (cli_open_workflow(&c, path, &s, &wf))
        return 1;
    char *j = loom_workflow_to_json(wf, true);
    printf("%s\n", j ? j : "{}");
    free(j);
    loom_workflow_free(wf);
    loom_session_free(s);
    return 0;
}
