/* cmd_nodes.c: `loom nodes` — the registry, as a table or as /object_info JSON. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_node(const loom_node_type *t)
{
    printf("%s", t->name);
    if (t->display_name && strcmp(t->display_name, t->name))
        printf(" (\"%s\")", t->display_name);
    printf("  [%s]%s%s\n", t->category ? t->category : "", (t->flags & LOOM_NODE_OUTPUT) ? " output" : "",
           t->execute ? "" : " (not runnable in this build)");
    for (size_t i = 0; i < t->n_inputs; i++) {
        const loom_input *in = &t->inputs[i];
        if (in->flags & LOOM_IN_HIDDEN)
            continue;
        printf("    in  %-22s %s%s\n", in->name, in->type,
               (in->flags & LOOM_IN_OPTIONAL) ? " (optional)" : "");
    }
    for (size_t i = 0; i < t->n_outputs; i++)
        printf("    out %-22s %s\n", t->outputs[i].name ? t->outputs[i].name : t->outputs[i].type,
               t->outputs[i].type);
}

int cmd_nodes(int argc, char **argv)
{
    cli_common c = {0};
    const char *cls = NULL;
    bool as_json = false;
    if (cli_parse(argc, argv, &c, "--json", &as_json, &cls, "loom nodes [--json] [CLASS]"))
        return 2;
    loom_session *s;
    if (cli_open_session(&c, &s))
        return 1;
    int rc = 0;
    if (cls && !loom_session_node_find(s, cls)) {
        fprintf(stderr, "loom: no node class '%s'\n", cls);
        rc = 1;
    } else if (as_json) {
        char *j = loom_session_object_info(s, cls);
        json_object *o = j ? json_tokener_parse(j) : NULL;
        printf("%s\n", o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                                 JSON_C_TO_STRING_SPACED |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE)
                         : "{}");
        json_object_put(o);
        free(j);
    } else {
        for (size_t i = 0; i < loom_session_node_count(s); i++) {
            const loom_node_type *t = loom_session_node_at(s, i);
            if (!cls || !strcmp(cls, t->name))
                print_node(t);
        }
    }
    loom_session_free(s);
    return rc;
}
