/* plugin_loader.c: loading node plugins with dlopen.
 *
 * A plugin exports one symbol, `loom_plugin_entry` (a loom_plugin_info). Before calling
 * into the plugin we check the ABI version and the sizes of the descriptor structs it was
 * built with, and report a mismatch naming both sides. If registration fails, everything
 * the plugin registered is taken back and the library is closed; the session goes on.
 */
#include <dirent.h>
#include <limits.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "session.h"

void session_add_problem(loom_session *s, const char *fmt, ...)
{
    char msg[LOOM_ERROR_MSG_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char **p = realloc(s->problems, (s->n_problems + 1) * sizeof *p);
    if (!p)
        return;
    s->problems = p;
    s->problems[s->n_problems] = strdup(msg);
    if (s->problems[s->n_problems])
        s->n_problems++;
    if (!s->quiet)
        fprintf(stderr, "loom: plugin skipped: %s\n", msg);
}

/* The folder libloom.so was loaded from; the plugins and bundled models sit beside it
 * in the same relative places in the build tree and the install tree. */
static const char *library_dir(void)
{
    static char dir[4096];
    if (dir[0])
        return dir;
    Dl_info info;
    if (dladdr((void *)library_dir, &info) && info.dli_fname) {
        snprintf(dir, sizeof dir, "%s", info.dli_fname);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
    }
    return dir;
}

const char *session_builtin_plugin_dir(void)
{
    static char dir[4200];
    if (!dir[0])
        snprintf(dir, sizeof dir, "%s/loom/plugins", library_dir());
    return dir;
}

const char *session_bundled_models_dir(void)
{
    static char dir[PATH_MAX];
    if (!dir[0]) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/../share/loom/models", library_dir());
        if (!realpath(path, dir))   /* not there: the caller's stat says so */
            snprintf(dir, sizeof dir, "%.*s", (int)sizeof dir - 1, path);
    }
    return dir;
}

static int check_info(const loom_plugin_info *info, loom_error *err)
{
    if (info->abi_version != LOOM_PLUGIN_ABI_VERSION)
        return loom_errorf(err, LOOM_ERR_PLUGIN,
                           "built for plugin ABI %u, this loom speaks ABI %u; rebuild the "
                           "plugin against this loom's headers",
                           info->abi_version, LOOM_PLUGIN_ABI_VERSION);
    if (info->sizeof_node_type != sizeof(loom_node_type) ||
        info->sizeof_input != sizeof(loom_input) || info->sizeof_output != sizeof(loom_output))
        return loom_errorf(err, LOOM_ERR_PLUGIN,
                           "descriptor sizes differ (plugin: node %u, input %u, output %u; "
                           "loom: node %zu, input %zu, output %zu); rebuild the plugin",
                           info->sizeof_node_type, info->sizeof_input, info->sizeof_output,
                           sizeof(loom_node_type), sizeof(loom_input), sizeof(loom_output));
    if (!info->register_nodes)
        return loom_errorf(err, LOOM_ERR_PLUGIN, "entry point has no register function");
    return LOOM_OK;
}

static int load_one(loom_session *s, const char *path)
{
    loom_error err = {0};
    /* RTLD_NODELETE: a closed plugin stays mapped. Values made by its code (and the
     * libraries it pulled in, with their thread-local and global state) may outlive the
     * session that loaded it; unmapping them would leave dangling destructors. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        session_add_problem(s, "%s: cannot load: %s", path, dlerror());
        return LOOM_ERR_PLUGIN;
    }
    const loom_plugin_info *info = dlsym(h, LOOM_PLUGIN_ENTRY_SYMBOL);
    if (!info) {
        session_add_problem(s, "%s: no '%s' entry point (not a loom plugin?)", path,
                            LOOM_PLUGIN_ENTRY_SYMBOL);
        dlclose(h);
        return LOOM_ERR_PLUGIN;
    }
    if (check_info(info, &err)) {
        session_add_problem(s, "%s: %s", path, err.msg);
        dlclose(h);
        return LOOM_ERR_PLUGIN;
    }
    const char *module = info->name ? info->name : path;
    struct loom_registrar r = {s->reg, module};
    if (info->register_nodes(&r, &err) != LOOM_OK) {
        session_add_problem(s, "%s: registration failed: %s", path,
                            err.msg[0] ? err.msg : "(no reason given)");
        registry_remove_module(s->reg, module);
        dlclose(h);
        return LOOM_ERR_PLUGIN;
    }
    void **hs = realloc(s->handles, (s->n_handles + 1) * sizeof *hs);
    if (!hs) {
        dlclose(h);
        return LOOM_ERR_NOMEM;
    }
    s->handles = hs;
    s->handles[s->n_handles++] = h;
    return LOOM_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load every *.so in dir, in name order so registration is deterministic. */
static int load_dir(loom_session *s, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return LOOM_ERR_NOT_FOUND;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
            continue;
        char **grown = realloc(names, (n + 1) * sizeof *names);
        if (!grown)
            break;
        names = grown;
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        load_one(s, path);
        free(names[i]);
    }
    free(names);
    return LOOM_OK;
}

int loom_session_load_plugin(loom_session *s, const char *path, loom_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return loom_errorf(err, LOOM_ERR_NOT_FOUND, "plugin path '%s' does not exist", path);
    if (S_ISDIR(st.st_mode))
        return load_dir(s, path);
    int rc = load_one(s, path);
    if (rc)
        loom_errorf(err, (loom_status)rc, "%s", s->n_problems ? s->problems[s->n_problems - 1]
                                                             : "plugin failed to load");
    return rc;
}

size_t loom_session_plugin_problem_count(const loom_session *s) { return s->n_problems; }

const char *loom_session_plugin_problem(const loom_session *s, size_t i)
{
    return i < s->n_problems ? s->problems[i] : NULL;
}

int loom_register_node(loom_registrar *reg, const loom_node_type *type, loom_error *err)
{
    return registry_add(reg->reg, type, NULL, reg->module, err);
}

int loom_register_nodes(loom_registrar *reg, const loom_node_type *types, size_t n,
                        loom_error *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = loom_register_node(reg, &types[i], err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

int loom_register_node_owned(loom_registrar *reg, const loom_node_type *type,
                             void (*release)(const loom_node_type *type), loom_error *err)
{
    return registry_add(reg->reg, type, release, reg->module, err);
}
