/* image_nodes.h: the execute functions behind the image plugin's node table
 * (image_nodes.c), one file per node family. */
#ifndef LOOM_IMAGE_NODES_H
#define LOOM_IMAGE_NODES_H

#include "loom/plugin.h"

int save_image_execute(loom_node_ctx *ctx);          /* save_png.c */
int preview_image_execute(loom_node_ctx *ctx);       /* save_png.c */
int save_animated_webp_execute(loom_node_ctx *ctx);  /* save_webp.c */
int load_image_execute(loom_node_ctx *ctx);          /* load_image.c */
int load_image_fingerprint(loom_node_ctx *ctx, char *buf, size_t cap);
char **load_image_choices(const char *models_dir, void *userdata);

#endif
