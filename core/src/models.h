/* models.h: finding model files the ComfyUI way.
 *
 * models_dir is a ":"-separated list of model roots searched in order (like PATH, or
 * ComfyUI's extra model paths): the user's roots first, models bundled with loom last.
 * A model folder spec is a ";"-separated list of sub-folders of the models root, searched
 * in order ("diffusion_models;unet"). Choices are the files below them (recursively, as
 * "sub/name.safetensors") with a model file extension, plus diffusers-style directories
 * (holding a config.json), sorted and de-duplicated.
 */
#ifndef LOOM_MODELS_H
#define LOOM_MODELS_H

#include <stddef.h>

#include "loom/error.h"

/* NULL-terminated, malloc'd list (free with models_list_free). Never NULL unless OOM. */
char **models_list(const char *models_dir, const char *folders);
void   models_list_free(char **list);
size_t models_list_len(char *const *list);
/* Resolve name (relative, no "..") inside the folders; writes the path into out. */
int    models_resolve(const char *models_dir, const char *folders, const char *name, char *out,
                      size_t cap, loom_error *err);
/* "models/diffusion_models, models/unet" for messages. malloc'd. */
char  *models_describe_search(const char *models_dir, const char *folders);

#endif
