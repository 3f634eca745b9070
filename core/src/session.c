/* session.c: creating and tearing down a loom_session.
 *
 * A session resolves its directories once (options, then environment, then defaults;
 * the bundled demo models are appended as a last model root),
 * loads plugins from the built-in directory, $LOOM_PLUGIN_PATH and the given dirs, and
 * owns the output cache. Teardown order matters: cached values may point into plugin
 * code (destructors), so the cache goes first, then the registry, then the libraries.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session.h"

/* Default cache budget: a quarter of physical memory, leaving room for the models and
 * activations of the run itself. */
static uint64_t default_cache_budget(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0)
        return 4ull << 30;
    return (uint64_t)pages * (uint64_t)page / 4;
}

static char *pick_dir(const char *opt, const char *env, const char *fallback)
{
    if (opt && opt[0])
        return strdup(opt);
    const char *e = env ? getenv(env) : NULL;
    return strdup(e && e[0] ? e : fallback);
}

/* The user's model roots, then the bundled one when it exists: a user's file of the same
 * name wins, and the demo workflow runs with no configuration. */
static char *model_roots(const char *opt)
{
    char *user = pick_dir(opt, "LOOM_MODELS", "models");
    const char *bundled = session_bundled_models_dir();
    struct stat st;
    if (!user || !bundled[0] || stat(bundled, &st) != 0 || !S_ISDIR(st.st_mode) ||
        strchr(bundled, ':'))
        return user;
    size_t n = strlen(user) + strlen(bundled) + 2;
    char *roots = malloc(n);
    if (roots)
        snprintf(roots, n, "%s:%s", user, bundled);
    free(user);
    return roots;
}

static void load_path_list(loom_session *s, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
        loom_session_load_plugin(s, dir, NULL);
    free(copy);
}

int loom_session_new(const loom_options *opt, loom_session **out, loom_error *err)
{
    loom_options none = {0};
    if (!opt)
        opt = &none;
    loom_session *s = calloc(1, sizeof *s);
    if (!s)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory creating a session");
    const char *tmp = getenv("TMPDIR");
    s->reg = registry_new();
    s->cache = cache_new(opt->cache_budget ? opt->cache_budget : default_cache_budget());
    s->models_dir = model_roots(opt->models_dir);
    s->output_dir = pick_dir(opt->output_dir, NULL, "output");
    s->temp_dir = pick_dir(opt->temp_dir, NULL, tmp && tmp[0] ? tmp : "/tmp");
    s->last_outputs = json_object_new_object();
    s->last_keys = json_object_new_object();
    s->quiet = opt->quiet;
    if (!s->reg || !s->cache || !s->models_dir || !s->output_dir || !s->temp_dir ||
        !s->last_outputs || !s->last_keys) {
        loom_session_free(s);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory creating a session");
    }
    if (!opt->no_default_plugins) {
        loom_session_load_plugin(s, session_builtin_plugin_dir(), NULL);
        const char *env = getenv("LOOM_PLUGIN_PATH");
        if (env && env[0])
            load_path_list(s, env);
    }
    for (const char *const *d = opt->plugin_dirs; d && *d; d++) {
        loom_error perr = {0};
        if (loom_session_load_plugin(s, *d, &perr) == LOOM_ERR_NOT_FOUND)
            session_add_problem(s, "%s", perr.msg);
    }
    *out = s;
    return LOOM_OK;
}

void loom_session_free(loom_session *s)
{
    if (!s)
        return;
    cache_free(s->cache);
    registry_free(s->reg);
    for (size_t i = 0; i < s->n_handles; i++)
        dlclose(s->handles[i]);
    free(s->handles);
    for (size_t i = 0; i < s->n_problems; i++)
        free(s->problems[i]);
    free(s->problems);
    if (s->last_outputs)
        json_object_put(s->last_outputs);
    if (s->last_keys)
        json_object_put(s->last_keys);
    free(s->models_dir);
    free(s->output_dir);
    free(s->temp_dir);
    free(s);
}

int loom_session_register_node(loom_session *s, const loom_node_type *type,
                               void (*release)(const loom_node_type *type), const char *module,
                               loom_error *err)
{
    return registry_add(s->reg, type, release, module, err);
}

size_t loom_session_node_count(const loom_session *s) { return registry_count(s->reg); }

const loom_node_type *loom_session_node_at(const loom_session *s, size_t i)
{
    return registry_at(s->reg, i);
}

const loom_node_type *loom_session_node_find(const loom_session *s, const char *class_type)
{
    return registry_find(s->reg, class_type);
}

const char *loom_session_models_dir(const loom_session *s) { return s->models_dir; }
const char *loom_session_output_dir(const loom_session *s) { return s->output_dir; }

void loom_interrupt(loom_session *s) { __atomic_store_n(&s->interrupt, 1, __ATOMIC_SEQ_CST); }

size_t   loom_cache_entry_count(const loom_session *s) { return cache_count(s->cache); }
uint64_t loom_cache_bytes(const loom_session *s) { return cache_bytes(s->cache); }
void     loom_cache_clear(loom_session *s) { cache_clear(s->cache); }
