/* video_nodes.h: the execute functions behind the video plugin's node table
 * (video_nodes.c). */
#ifndef LOOM_VIDEO_NODES_H
#define LOOM_VIDEO_NODES_H

#include "loom/plugin.h"

int save_video_execute(loom_node_ctx *ctx);   /* save_video.c */
int save_webm_execute(loom_node_ctx *ctx);    /* save_video.c */

#endif
