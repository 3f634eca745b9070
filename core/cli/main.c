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
        "  --models DIR    model root (default $LOOM_MODELS or ./models)\n"
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

int cli_load_workflow(loom_session *s, const char *path, loom_workflow **out)
{
    loom_error err = {0};
    if (loom_workflow_load_file(s, path, out, &err) != LOOM_OK) {
        fprintf(stderr, "loom: %s\n", err.msg);
        return 1;
    }
    return 0;
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
