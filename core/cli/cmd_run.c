/* cmd_run.c: `loom run` — load, apply --set, validate, run with progress, list files.
 *
 * Progress: one line per node as it finishes (time, or "cached"); on a terminal a bar
 * redraws in place for nodes that report progress. Ctrl-C (or SIGTERM, as a service
 * manager sends) asks the engine to stop at the next node or progress report; a second
 * one exits at once, and the next run in that output folder removes what a writer had
 * half-written (output_file.c). A signal the last node finished through still exits 130.
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static loom_session *volatile g_session;
static volatile sig_atomic_t g_interrupts;

static void on_sigint(int sig)
{
    (void)sig;
    if (++g_interrupts > 1)
        _exit(130);
    static const char msg[] = "\nloom: interrupting (Ctrl-C again to quit at once)\n";
    /* the same words for SIGTERM: a second one quits at once too */
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    if (g_session)
        loom_interrupt(g_session);
}

typedef struct run_view {
    bool tty, quiet, bar_open;
    json_object *files;   /* list of written paths */
    const char *out_dir;
} run_view;

static void end_bar(run_view *v)
{
    if (v->bar_open) {
        fputc('\n', stderr);
        v->bar_open = false;
    }
}

static void collect_files(run_view *v, const char *ui_json)
{
    json_object *ui = json_tokener_parse(ui_json);
    if (!ui)
        return;
    json_object_object_foreach(ui, key, list) {
        if (!json_object_is_type(list, json_type_array))
            continue;
        if (strcmp(key, "text") == 0) {     /* PreviewAny and friends: show the text */
            for (size_t i = 0; i < json_object_array_length(list); i++)
                printf("%s\n", json_object_get_string(json_object_array_get_idx(list, i)));
            continue;
        }
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            json_object *e = json_object_array_get_idx(list, i), *fn, *sub, *type;
            if (!json_object_object_get_ex(e, "filename", &fn))
                continue;
            const char *t = json_object_object_get_ex(e, "type", &type) ? json_object_get_string(type) : "output";
            const char *s = json_object_object_get_ex(e, "subfolder", &sub) ? json_object_get_string(sub) : "";
            char path[4096];
            snprintf(path, sizeof path, "%s%s%s%s%s", strcmp(t, "output") == 0 ? v->out_dir : t,
                     "/", s, s[0] ? "/" : "", json_object_get_string(fn));
            json_object_array_add(v->files, json_object_new_string(path));
        }
    }
    json_object_put(ui);
}

static void on_event(const loom_event *ev, void *user)
{
    run_view *v = user;
    const char *title = ev->title ? ev->title : ev->class_type;
    switch (ev->type) {
    case LOOM_EV_EXECUTION_CACHED:
        if (!v->quiet && ev->n_nodes)
            fprintf(stderr, "cached: %zu node%s\n", ev->n_nodes, ev->n_nodes == 1 ? "" : "s");
        break;
    case LOOM_EV_EXECUTING:
        if (!v->quiet && v->tty) {
            fprintf(stderr, "  ... %s (%s)\r", title, ev->node_id);
            fflush(stderr);
        }
        break;
    case LOOM_EV_PROGRESS:
        if (!v->quiet && v->tty && ev->max > 0) {
            int width = 30, fill = (int)(width * ev->value / ev->max);
            fprintf(stderr, "\r  %-28.28s [%.*s%*s] %lld/%lld", title, fill,
                    "##############################", width - fill, "", (long long)ev->value,
                    (long long)ev->max);
            fflush(stderr);
            v->bar_open = true;
        }
        break;
    case LOOM_EV_EXECUTED:
        end_bar(v);
        if (!v->quiet) {
            if (ev->seconds > 0 || ev->output_json == NULL)
                fprintf(stderr, "%s%-6s %-40s %8.2fs\n", v->tty ? "\r\033[K" : "", ev->node_id,
                        title, ev->seconds);
            else
                fprintf(stderr, "%-6s %-40s   cached\n", ev->node_id, title);
        }
        if (ev->output_json)
            collect_files(v, ev->output_json);
        break;
    case LOOM_EV_EXECUTION_ERROR:
        end_bar(v);
        fprintf(stderr, "error in node %s (%s): %s\n", ev->node_id, ev->class_type, ev->message);
        break;
    case LOOM_EV_EXECUTION_INTERRUPTED:
        end_bar(v);
        fprintf(stderr, "interrupted%s%s\n", ev->node_id ? " at node " : "",
                ev->node_id ? ev->node_id : "");
        break;
    case LOOM_EV_EXECUTION_SUCCESS:
        if (!v->quiet)
            fprintf(stderr, "done in %.2fs\n", ev->seconds);
        break;
    default:
        break;
    }
}

int cmd_run(int argc, char **argv)
{
    cli_common c = {0};
    const char *path = NULL;
    const char *sets[256];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_common_option(&c, argc, argv, &i))
            continue;
        if (!strcmp(argv[i], "--set")) {
            if (i + 1 >= argc || n_sets == 256) {
                fprintf(stderr, "loom: --set needs NODE.INPUT=VALUE\n");
                return 2;
            }
            sets[n_sets++] = argv[++i];
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "usage: loom run WORKFLOW.json [--set NODE.INPUT=VALUE ...] "
                            "[--models DIR] [--out DIR]\n");
            return 2;
        } else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: loom run WORKFLOW.json [--set NODE.INPUT=VALUE ...]\n");
        return 2;
    }
    loom_session *s;
    loom_workflow *wf;
    if (cli_open_workflow(&c, path, &s, &wf))
        return 1;
    loom_error err = {0};
    for (int i = 0; i < n_sets; i++) {
        if (loom_session_apply_set(s, wf, sets[i], &err) != LOOM_OK) {
            fprintf(stderr, "loom: %s\n", err.msg);
            loom_workflow_free(wf);
            loom_session_free(s);
            return 2;
        }
    }
    loom_validation *v = loom_validate(s, wf);
    if (!loom_validation_ok(v)) {
        cli_print_problems(path, v, "not run: ");
        loom_validation_free(v);
        loom_workflow_free(wf);
        loom_session_free(s);
        return 1;
    }
    loom_validation_free(v);

    run_view view = {.tty = isatty(STDERR_FILENO), .quiet = c.quiet,
                     .files = json_object_new_array(), .out_dir = loom_session_output_dir(s)};
    loom_run_options ro = {.on_event = on_event, .user = &view};
    g_session = s;
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = loom_run(s, wf, &ro, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    g_session = NULL;
    if (rc != LOOM_OK) {
        end_bar(&view);
        fprintf(stderr, "loom: %s\n", err.msg);
    } else if (g_interrupts > 0) {
        /* the signal came while the last node was finishing (a writer's flush): its files
         * are complete, but the caller asked to stop, so the exit status says so */
        end_bar(&view);
        fprintf(stderr, "loom: interrupted as the run finished; the files below are complete\n");
        rc = LOOM_ERR_INTERRUPTED;
    }
    for (size_t i = 0; i < json_object_array_length(view.files); i++)
        printf("%s\n", json_object_get_string(json_object_array_get_idx(view.files, i)));
    json_object_put(view.files);
    loom_workflow_free(wf);
    loom_session_free(s);
    return rc == LOOM_OK ? 0 : rc == LOOM_ERR_INTERRUPTED ? 130 : 1;
}
