/* registry.h: the table of node types a session knows, by class name.
 *
 * Entries keep a pointer to the plugin's descriptor (static data, or heap data with a
 * release function) plus the name of the module that registered it. The table stays
 * sorted by class name so listings and /object_info are stable.
 */
#ifndef LOOM_REGISTRY_H
#define LOOM_REGISTRY_H

#include "loom/plugin.h"

typedef struct registry registry;

registry             *registry_new   (void);
void                  registry_free  (registry *reg);
/* Checks the descriptor (names, types, combos) and rejects duplicates, naming the class. */
int                   registry_add   (registry *reg, const loom_node_type *type,
                                      void (*release)(const loom_node_type *type),
                                      const char *module, loom_error *err);
/* Take back everything one module registered (a plugin whose registration failed). */
void                  registry_remove_module(registry *reg, const char *module);
const loom_node_type *registry_find  (const registry *reg, const char *class_type);
const char           *registry_module(const registry *reg, const char *class_type);
size_t                registry_count (const registry *reg);
const loom_node_type *registry_at    (const registry *reg, size_t i);

/* Input helpers shared by validation, conversion and /object_info. */
const loom_input *node_find_input(const loom_node_type *t, const char *name);
/* True for INT/FLOAT/STRING/BOOLEAN/COMBO inputs that show a widget (not hidden,
 * not force-input). These consume widgets_values in the UI format. */
bool              input_is_widget(const loom_input *in);
/* The frontend adds a control_after_generate value after this widget. */
bool              input_has_control_widget(const loom_input *in);
bool              input_is_combo(const loom_input *in);

/* struct loom_registrar, handed to a plugin's register function. */
struct loom_registrar {
    registry   *reg;
    const char *module;
};

#endif
