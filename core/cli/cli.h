/* cli.h: the `loom` command's shared pieces. */
#ifndef LOOM_CLI_H
#define LOOM_CLI_H

#include "loom/loom.h"

/* Options every subcommand accepts. */
typedef struct cli_common {
    const char *models_dir;
    const char *output_dir;
    const char *plugin_dirs[16];
    int         n_plugin_dirs;
    bool        quiet;
} cli_common;

/* Consume a common option at argv[*i] (advancing *i past its value); true if it was one. */
bool cli_common_option(cli_common *c, int argc, char **argv, int *i);
int  cli_open_session(const cli_common *c, loom_session **out);
int  cli_load_workflow(loom_session *s, const char *path, loom_workflow **out);

int  cmd_run     (int argc, char **argv);
int  cmd_validate(int argc, char **argv);
int  cmd_convert (int argc, char **argv);
int  cmd_nodes   (int argc, char **argv);

#endif
