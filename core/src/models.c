/* models.c: model folder listing and name resolution (see models.h). */
#include "models.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "strbuf.h"

/* Deep enough for "family/variant/file"; a guard against symlink loops. */
#define MODELS_MAX_DEPTH 4
/* A models tree bigger than this is listed partially; the name is still resolvable. */
#define MODELS_MAX_FILES 100000

static const char *const model_exts[] = {".safetensors", ".sft", ".gguf", ".pth", ".pt",
                                         ".ckpt", ".bin", ".pkl", ".model", ".json", NULL};

typedef struct name_list {
    char **items;
    size_t len, cap;
} name_list;

static void list_push(name_list *l, const char *s)
{
    if (l->len >= MODELS_MAX_FILES)
        return;
    if (l->len + 2 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return;
        l->items = items;
        l->cap = cap;
    }
    char *copy = strdup(s);
    if (copy)
        l->items[l->len++] = copy;
}

static bool has_model_ext(const char *name)
{
    size_t n = strlen(name);
    for (const char *const *e = model_exts; *e; e++) {
        size_t m = strlen(*e);
        if (n > m && strcmp(name + n - m, *e) == 0)
            return true;
    }
    return false;
}

static bool is_diffusers_dir(const char *path)
{
    char cfg[8300];
    struct stat st;
    snprintf(cfg, sizeof cfg, "%s/config.json", path);
    return stat(cfg, &st) == 0 && S_ISREG(st.st_mode);
}

static void scan_dir(const char *root, const char *rel, int depth, name_list *out)
{
    char path[8192];
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char child_rel[2048], child[8192];
        snprintf(child_rel, sizeof child_rel, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(child, sizeof child, "%s/%s", root, child_rel);
        struct stat st;
        if (stat(child, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (is_diffusers_dir(child))
                list_push(out, child_rel);
            else if (depth < MODELS_MAX_DEPTH)
                scan_dir(root, child_rel, depth + 1, out);
        } else if (S_ISREG(st.st_mode) && has_model_ext(e->d_name)) {
            list_push(out, child_rel);
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The next non-empty item of a sep-separated list, copied into buf; false at the end. */
static bool next_item(const char **p, char sep, char *buf, size_t cap)
{
    while (*p && **p) {
        const char *start = *p, *end = strchr(start, sep);
        size_t n = end ? (size_t)(end - start) : strlen(start);
        *p = end ? end + 1 : NULL;
        if (n > 0 && n < cap) {
            memcpy(buf, start, n);
            buf[n] = '\0';
            return true;
        }
    }
    return false;
}

/* Call fn with "<root>/<folder>" for each root of a ":"-separated models_dir and each
 * folder of a ";"-separated spec, roots first, both in the order given. */
static void for_each_place(const char *models_dir, const char *folders,
                           void (*fn)(const char *dir, void *ctx), void *ctx)
{
    char root[4096], folder[4096], dir[8200];
    for (const char *r = models_dir; next_item(&r, ':', root, sizeof root);)
        for (const char *f = folders; next_item(&f, ';', folder, sizeof folder);) {
            snprintf(dir, sizeof dir, "%s/%s", root, folder);
            fn(dir, ctx);
        }
}

static void scan_place(const char *dir, void *list)
{
    scan_dir(dir, "", 0, list);
}

char **models_list(const char *models_dir, const char *folders)
{
    name_list l = {0};
    for_each_place(models_dir, folders, scan_place, &l);
    if (!l.items) {
        l.items = calloc(1, sizeof *l.items);
        return l.items;
    }
    qsort(l.items, l.len, sizeof *l.items, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < l.len; i++) {
        if (w > 0 && strcmp(l.items[w - 1], l.items[i]) == 0)
            free(l.items[i]);
        else
            l.items[w++] = l.items[i];
    }
    l.items[w] = NULL;
    return l.items;
}

void models_list_free(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

size_t models_list_len(char *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

static bool name_is_safe(const char *name)
{
    if (!name[0] || name[0] == '/')
        return false;
    for (const char *p = name; *p;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p = end ? end + 1 : p + n;
    }
    return true;
}

typedef struct resolve_ctx {
    const char *name;
    char       *out;
    size_t      cap;
    bool        found;
} resolve_ctx;

static void try_place(const char *dir, void *vctx)
{
    resolve_ctx *c = vctx;
    if (c->found)
        return;
    char path[8456];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, c->name);
    if (stat(path, &st) == 0 && strlen(path) < c->cap) {
        memcpy(c->out, path, strlen(path) + 1);
        c->found = true;
    }
}

static void describe_place(const char *dir, void *vb)
{
    strbuf *b = vb;
    sb_printf(b, "%s%s", b->len ? ", " : "", dir);
}

char *models_describe_search(const char *models_dir, const char *folders)
{
    strbuf b = {0};
    for_each_place(models_dir, folders, describe_place, &b);
    return sb_take(&b);
}

int models_resolve(const char *models_dir, const char *folders, const char *name, char *out,
                   size_t cap, loom_error *err)
{
    if (!name || !name_is_safe(name))
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "model name '%s' must be a relative path inside the models folder",
                           name ? name : "");
    resolve_ctx c = {name, out, cap, false};
    for_each_place(models_dir, folders, try_place, &c);
    if (c.found)
        return LOOM_OK;
    char *where = models_describe_search(models_dir, folders);
    loom_errorf(err, LOOM_ERR_NOT_FOUND, "model file '%s' not found in %s", name,
                where ? where : folders);
    free(where);
    return LOOM_ERR_NOT_FOUND;
}
