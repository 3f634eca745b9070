/* session.h: what a loom_session holds (internal). */
#ifndef LOOM_SESSION_H
#define LOOM_SESSION_H

#include <json-c/json.h>

#include "cache.h"
#include "loom/loom.h"
#include "registry.h"

struct loom_session {
    registry    *reg;
    cache       *cache;
    char        *models_dir, *output_dir, *temp_dir;
    char       **problems;           /* plugin load problems, "path: reason" */
    size_t       n_problems;
    void       **handles;            /* dlopen handles, closed after the registry is freed */
    size_t       n_handles;
    int          interrupt;          /* set by loom_interrupt; read/cleared atomically */
    bool         quiet;
    json_object *last_outputs;       /* {"node": ui} of the last run */
    json_object *last_keys;          /* {"node": "cache key"} of the last run */
};

void session_add_problem(loom_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The directory holding the built-in plugins, next to libloom. */
const char *session_builtin_plugin_dir(void);
/* <libdir>/../share/loom/models: the demo models shipped with loom, searched last. */
const char *session_bundled_models_dir(void);

#endif
