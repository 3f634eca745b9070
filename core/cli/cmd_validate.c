/* cmd_validate.c: `loom validate` and `loom convert`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_validate(int argc, char **argv)
{
    cli_common c = {0};
    const char *path = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (cli_common_option(&c, argc, argv, &i))
            continue;
        if (!strcmp(argv[i], "--json"))
            as_json = true;
        else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "usage: loom validate WORKFLOW.json [--json]\n");
            return 2;
        } else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: loom validate WORKFLOW.json [--json]\n");
        return 2;
    }
    loom_session *s;
    loom_workflow *wf;
    if (cli_open_session(&c, &s))
        return 1;
    if (cli_load_workflow(s, path, &wf)) {
        loom_session_free(s);
        return 1;
    }
    loom_validation *v = loom_validate(s, wf);
    int rc = loom_validation_ok(v) ? 0 : 1;
    if (as_json) {
        char *j = loom_validation_to_json(v, true);
        printf("%s\n", j ? j : "{}");
        free(j);
    } else if (rc == 0) {
        printf("%s: valid (%zu nodes)\n", path, loom_workflow_node_count(wf));
    } else {
        for (size_t i = 0; i < loom_validation_count(v); i++) {
            char *line = loom_validation_error_line(loom_validation_get(v, i));
            fprintf(stderr, "%s: %s\n", path, line ? line : "?");
            free(line);
        }
        fprintf(stderr, "%s: %zu problem%s\n", path, loom_validation_count(v),
                loom_validation_count(v) == 1 ? "" : "s");
    }
    loom_validation_free(v);
    loom_workflow_free(wf);
    loom_session_free(s);
    return rc;
}

int cmd_convert(int argc, char **argv)
{
    cli_common c = {0};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_common_option(&c, argc, argv, &i))
            continue;
        if (argv[i][0] == '-' || path) {
            fprintf(stderr, "usage: loom convert WORKFLOW_UI.json\n");
            return 2;
        }
        path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: loom convert WORKFLOW_UI.json\n");
        return 2;
    }
    loom_session *s;
    loom_workflow *wf;
    if (cli_open_session(&c, &s))
        return 1;
    if (cli_load_workflow(s, path, &wf)) {
        loom_session_free(s);
        return 1;
    }
    char *j = loom_workflow_to_json(wf, true);
    printf("%s\n", j ? j : "{}");
    free(j);
    loom_workflow_free(wf);
    loom_session_free(s);
    return 0;
}
