/* fuzz_workflow.c: libFuzzer target over workflow loading and validation.
 *
 * Each input is handed to loom_workflow_load_string as a workflow (API or UI format,
 * detected as in real use); whatever loads is validated, rendered to JSON and to
 * readable error lines, and freed. Under ASan/UBSan/LSan this checks that no input
 * crashes, overflows or leaks, whatever it claims to be. One session (with the built-in
 * plugins, so UI widget mapping sees real node descriptors) serves every input.
 * Seed corpus: the files in shared/workflows/comfyui/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/loom.h"

/* Inputs above this size only slow the fuzzer down; real workflows are far smaller. */
#define FUZZ_MAX_INPUT (1u << 20)

static loom_session *session;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    loom_options opt = {0};
    opt.quiet = true;
    loom_error err = {0};
    if (loom_session_new(&opt, &session, &err) != LOOM_OK) {
        fprintf(stderr, "fuzz_workflow: loom_session_new: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    loom_workflow *wf = NULL;
    loom_error err = {0};
    if (loom_workflow_load_string(session, text, &wf, &err) == LOOM_OK) {
        loom_validation *v = loom_validate(session, wf);
        if (v) {
            free(loom_validation_to_json(v, false));
            for (size_t i = 0; i < loom_validation_count(v); i++)
                free(loom_validation_error_line(loom_validation_get(v, i)));
            loom_validation_free(v);
        }
        free(loom_workflow_to_json(wf, false));
        loom_workflow_free(wf);
    } else if (!err.msg[0]) {
        /* Every rejection must say why. */
        fprintf(stderr, "fuzz_workflow: rejected without a message\n");
        abort();
    }
    free(text);
    return 0;
}
