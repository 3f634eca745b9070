/* umt5_files.c: open a text encoder's safetensors file(s) as one map (see umt5_files.h).
 *
 * A folder is searched for model.safetensors.index.json, then model.safetensors, then the
 * only *.safetensors it holds. An index's weight_map values are shard file names relative
 * to the index; each distinct one is opened once (at most UMT5_MAX_SHARDS) and must not
 * escape the folder.
 */
#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "umt5_files.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int open_index(const char *index, umt5_files *f, loom_error *err)
{
    json_object *root = json_object_from_file(index), *map;
    if (!root || !json_object_object_get_ex(root, "weight_map", &map) ||
        !json_object_is_type(map, json_type_object)) {
        json_object_put(root);
        return loom_errorf(err, LOOM_ERR_INVALID, "'%s' is not a safetensors index (no weight_map object)", index);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", index);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    const char *seen[UMT5_MAX_SHARDS];
    int rc = LOOM_OK;
    json_object_object_foreach(map, key, val) {
        (void)key;
        const char *shard = json_object_get_string(val);
        if (!json_object_is_type(val, json_type_string) || !shard[0] || strchr(shard, '/') || !strcmp(shard, "..")) {
            rc = loom_errorf(err, LOOM_ERR_INVALID, "'%s': shard name '%s' is not a file beside the index",
                             index, shard);
            break;
        }
        size_t k = 0;
        while (k < f->n && strcmp(seen[k], shard))
            k++;
        if (k < f->n)
            continue;
        if (f->n == UMT5_MAX_SHARDS) {
            rc = loom_errorf(err, LOOM_ERR_INVALID, "'%s' names more than %d shards", index, UMT5_MAX_SHARDS);
            break;
        }
        char path[8192];
        snprintf(path, sizeof path, "%s%s", dir, shard);
        rc = loom_safetensors_open(path, &f->shard[f->n], err);
        if (rc)
            break;
        seen[f->n++] = shard;
    }
    if (rc == LOOM_OK && f->n == 0)
        rc = loom_errorf(err, LOOM_ERR_INVALID, "'%s' names no shards", index);
    json_object_put(root);
    return rc;
}

/* The folder's checkpoint: index, model.safetensors, or its only *.safetensors. */
static int find_in_folder(const char *dir, char *out, size_t cap, loom_error *err)
{
    snprintf(out, cap, "%s/model.safetensors.index.json", dir);
    if (is_file(out))
        return LOOM_OK;
    snprintf(out, cap, "%s/model.safetensors", dir);
    if (is_file(out))
        return LOOM_OK;
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (ends_with(e->d_name, ".safetensors")) {
            found++;
            snprintf(out, cap, "%s/%s", dir, e->d_name);
        }
    }
    if (d)
        closedir(d);
    if (found == 1)
        return LOOM_OK;
    return loom_errorf(err, LOOM_ERR_NOT_FOUND, "folder '%s' holds %s; expected model.safetensors.index.json, "
                       "model.safetensors or a single .safetensors file", dir,
                       found ? "several .safetensors files" : "no .safetensors file");
}

int umt5_files_open(const char *path, umt5_files *f, loom_error *err)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    if (ends_with(path, ".pth") || ends_with(path, ".pt") || ends_with(path, ".bin") || ends_with(path, ".ckpt"))
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED,
                           "'%s' is a PyTorch pickle; loom reads safetensors only. Convert it once with "
                           "python -c \"import torch, safetensors.torch as st; sd = torch.load('IN.pth', "
                           "map_location='cpu', weights_only=True); st.save_file({k: v.contiguous() for k, v in "
                           "sd.items()}, 'OUT.safetensors')\", or use ComfyUI's umt5_xxl_fp16 / fp8_e4m3fn_scaled "
                           ".safetensors or the diffusers text_encoder/ folder", path);
    char resolved[4096];
    int rc;
    if (is_dir(path)) {
        rc = find_in_folder(path, resolved, sizeof resolved, err);
        if (rc)
            return rc;
    } else {
        snprintf(resolved, sizeof resolved, "%s", path);
    }
    if (ends_with(resolved, ".json"))
        rc = open_index(resolved, f, err);
    else if ((rc = loom_safetensors_open(resolved, &f->shard[0], err)) == LOOM_OK)
        f->n = 1;
    if (rc)
        umt5_files_close(f);
    return rc;
}

void umt5_files_close(umt5_files *f)
{
    for (size_t i = 0; i < f->n; i++)
        loom_safetensors_close(f->shard[i]);
    f->n = 0;
}

loom_tensor *umt5_files_get(const umt5_files *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        loom_tensor *t = loom_safetensors_get(f->shard[i], name);
        if (t)
            return t;
    }
    return NULL;
}

int umt5_files_each_name(const umt5_files *f, int (*fn)(const char *name, void *user), void *user)
{
    for (size_t i = 0; i < f->n; i++)
        for (size_t k = 0; k < loom_safetensors_count(f->shard[i]); k++) {
            int rc = fn(loom_safetensors_name(f->shard[i], k), user);
            if (rc)
                return rc;
        }
    return 0;
}
