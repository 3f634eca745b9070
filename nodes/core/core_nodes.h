/* core_nodes.h: the model-free utility nodes every workflow may use. */
#ifndef LOOM_CORE_NODES_H
#define LOOM_CORE_NODES_H

#include "loom/plugin.h"

int register_primitive_nodes(loom_registrar *reg, loom_error *err);
int register_string_nodes   (loom_registrar *reg, loom_error *err);
int register_preview_nodes  (loom_registrar *reg, loom_error *err);

#endif
