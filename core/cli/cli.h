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
/* Parse common options, an optional boolean `flag` (e.g. "--json"; NULL for none) and at
 * most one positional argument. Returns 0, or 2 after printing usage. */
int  cli_parse(int argc, char **argv, cli_common *c, const char *flag, bool *flag_set,
               const char **positional, const char *usage);
int  cli_open_session(const cli_common *c, loom_session **out);
/* Open a session and load the workflow at path; 0, or 1 after printing why. */
int  cli_open_workflow(const cli_common *c, const char *path, loom_session **s,
                       loom_workflow **wf);
/* Print every validation problem as one line each, then the count. */
void cli_print_problems(const char *path, const loom_validation *v, const char *verdict);

int  cmd_run     (int argc, char **argv);
int  cmd_validate(int argc, char **argv);
int  cmd_convert (int argc, char **argv);
int  cmd_nodes   (int argc, char **argv);

#endif
