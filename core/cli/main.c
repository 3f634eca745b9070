/* main.c: the `loom` command — dispatch to subcommands and their shared options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#ifdef LOOM_HAVE_LUA
#include "loom_lua.h"
#endif

static void usage(FILE *f)
{
    fprintf(f,
        "loom %s: node-graph engine for diffusion inference\n"
        "\n"
        "usage:\n"
        "  loom run WORKFLOW.json [--set NODE.INPUT=VALUE ...] [--models DIR] [--out DIR]\n"
        "  loom validate WORKFLOW.json [--json]\n"
        "  loom convert WORKFLOW_UI.json          print the API form of a UI workflow\n"
        "  loom nodes [--json] [CLASS]            list node types (ComfyUI /object_info)\n"
        "  loom lua SCRIPT.lua [args]             run a Lua script (docs/lua.md)\n"
        "\n"
        "common options:\n"
        "  --models DIR    model root(s), \":\"-separated, searched in order\n"
        "                  (default $LOOM_MODELS or ./models)\n"
        "  --out DIR       output directory (default ./output)\n"
        "  --plugins DIR   load plugins from DIR too (repeatable; also $LOOM_PLUGIN_PATH)\n"
        "  --quiet         less output\n",
        LOOM_VERSION_STRING);
}

bool cli_common_option(cli_common *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char **slot = NULL;
    if (!strcmp(a, "--models"))
        slot = &c->models_dir;
    else if (!strcmp(a, "--out"))
        slot = &c->output_dir;
    else if (!strcmp(a, "--plugins")) {
        if (c->n_plugin_dirs >= 15) {
            fprintf(stderr, "loom: too many --plugins\n");
            exit(2);
        }
        slot = &c->plugin_dirs[c->n_plugin_dirs++];
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
        c->quiet = true;
        return true;
    } else
        return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "loom: %s needs a value\n", a);
        exit(2);
    }
    *slot = argv[++*i];
    return true;
}

int cli_open_session(const cli_common *c, loom_session **out)
{
    loom_options opt = {.models_dir = c->models_dir, .output_dir = c->output_dir,
                        .plugin_dirs = c->plugin_dirs, .quiet = c->quiet};
    loom_error err = {0};
    if (loom_session_new(&opt, out, &err) != LOOM_OK) {
        fprintf(stderr, "loom: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int cli_parse(int argc, char **argv, cli_common *c, const char *flag, bool *flag_set,
              const char **positional, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (cli_common_option(c, argc, argv, &i))
            continue;
        if (flag && !strcmp(argv[i], flag))
            *flag_set = true;
        else if (argv[i][0] == '-' || *positional) {
            fprintf(stderr, "usage: %s\n", usage);
            return 2;
        } else
            *positional = argv[i];
    }
    return 0;
}

int cli_open_workflow(const cli_common *c, const char *path, loom_session **s,
                      loom_workflow **wf)
{
    if (cli_open_session(c, s))
        return 1;
    loom_error err = {0};
    if (loom_workflow_load_file(*s, path, wf, &err) != LOOM_OK) {
        fprintf(stderr, "loom: %s\n", err.msg);
        loom_session_free(*s);
        return 1;
    }
    return 0;
}

void cli_print_problems(const char *path, const loom_validation *v, const char *verdict)
{
    size_t n = loom_validation_count(v);
    for (size_t i = 0; i < n; i++) {
        char *line = loom_validation_error_line(loom_validation_get(v, i));
        fprintf(stderr, "%s: %s\n", path, line ? line : "?");
        free(line);
    }
    fprintf(stderr, "%s: %s%zu problem%s\n", path, verdict, n, n == 1 ? "" : "s");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* keep results in order with progress on stderr */
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("loom %s\n", LOOM_VERSION_STRING);
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "validate"))
        return cmd_validate(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert"))
        return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "nodes"))
        return cmd_nodes(argc - 1, argv + 1);
    if (!strcmp(cmd, "lua")) {
#ifdef LOOM_HAVE_LUA
        return loom_lua_main(argc - 1, argv + 1);
#else
        fprintf(stderr, "loom: built without Lua (install liblua5.4-dev and rebuild)\n");
        return 2;
#endif
    }
    fprintf(stderr, "loom: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
