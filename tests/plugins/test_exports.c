/* test_exports.c: libloom exports only its loom_* API, so a program (or plugin) may have
 * functions named like loom's internals. This program defines json_parse_text and
 * strmap_put, which libloom uses inside, to abort; loading, validating and encoding a
 * workflow must still work, because libloom binds its own. It also reads a listing of
 * libloom's dynamic symbols (argv[1]: `nm -D --defined-only` output) and fails on any
 * name outside loom_*. */
#include "loom/loom.h"
#include "../support/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int json_parse_text(void) { abort(); }
int strmap_put(void) { abort(); }

static const char *const WORKFLOW = "{\"1\": {\"class_type\": \"NoSuchNode\", \"inputs\": {\"value\": 7}}}";

/* Every defined dynamic symbol in the nm listing starts with loom_. */
static void check_listing(const char *path)
{
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot read %s", path);
    if (!f) return;
    char line[512], addr[128], kind[16], name[384];
    int total = 0, foreign = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%127s %15s %383s", addr, kind, name) != 3) continue;
        total++;
        if (strncmp(name, "loom_", 5) != 0) {
            if (foreign++ < 5) fprintf(stderr, "exported but not loom_*: %s\n", name);
        }
    }
    fclose(f);
    CHECK_MSG(total > 100, "only %d symbols listed", total);
    CHECK_MSG(foreign == 0, "%d exported symbols outside the loom_* API", foreign);
    printf("libloom exports %d symbols, all loom_*\n", total);
}

int main(int argc, char **argv)
{
    if (argc > 1) check_listing(argv[1]);
    loom_options opt = {.no_default_plugins = true, .quiet = true};
    loom_session *s = NULL;
    loom_workflow *wf = NULL;
    loom_error err = {0};
    CHECK(loom_session_new(&opt, &s, &err) == LOOM_OK);
    if (s) {
        int rc = loom_workflow_load_string(s, WORKFLOW, &wf, &err);
        CHECK_MSG(rc == LOOM_OK, "load: %s", err.msg);
        if (wf) {
            char *json = loom_workflow_to_json(wf, false);
            CHECK(json && strstr(json, "NoSuchNode"));
            free(json);
            loom_validation *v = loom_validate(s, wf);   /* the class is unknown: one error */
            CHECK(v && !loom_validation_ok(v) && loom_validation_count(v) == 1);
            loom_validation_free(v);
            loom_workflow_free(wf);
        }
        loom_session_free(s);
    }
    printf("loom loaded, encoded and validated a workflow with json_parse_text and strmap_put of the program's own\n");
    return check_summary("test_exports");
}
