/* latent_nodes.h: the node tables of the latent plugin. */
#ifndef LOOM_LATENT_NODES_H
#define LOOM_LATENT_NODES_H

#include "loom/plugin.h"

int register_empty_latent_nodes(loom_registrar *reg, loom_error *err);
int register_latent_file_nodes (loom_registrar *reg, loom_error *err);

#endif
