/* registry.c: node types by class name.
 *
 * A sorted array of entries; lookups are binary searches. Registration checks the
 * descriptor the way a reviewer would (every input named and typed, names unique,
 * combos with a source of choices, outputs typed) so a broken plugin is reported at
 * load time, by class and input, rather than misbehaving in a run.
 */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

typedef struct reg_entry {
    const loom_node_type *type;
    void                (*release)(const loom_node_type *type);
    char                 *module;
} reg_entry;

struct registry {
    reg_entry *items;
    size_t     len, cap;
};

registry *registry_new(void) { return calloc(1, sizeof(registry)); }

void registry_free(registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->len; i++) {
        if (reg->items[i].release)
            reg->items[i].release(reg->items[i].type);
        free(reg->items[i].module);
    }
    free(reg->items);
    free(reg);
}

/* Index of class_type, or of where it would go (with *found false). */
static size_t registry_search(const registry *reg, const char *name, bool *found)
{
    size_t lo = 0, hi = reg->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(reg->items[mid].type->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int check_descriptor(const loom_node_type *t, loom_error *err)
{
    if (!t || !t->name || !t->name[0])
        return loom_errorf(err, LOOM_ERR_PLUGIN, "node type without a name");
    if (t->n_inputs && !t->inputs)
        return loom_errorf(err, LOOM_ERR_PLUGIN, "node type '%s': n_inputs set but no inputs",
                           t->name);
    if (t->n_outputs && !t->outputs)
        return loom_errorf(err, LOOM_ERR_PLUGIN, "node type '%s': n_outputs set but no outputs",
                           t->name);
    for (size_t i = 0; i < t->n_inputs; i++) {
        const loom_input *in = &t->inputs[i];
        if (!in->name || !in->name[0] || !in->type || !in->type[0])
            return loom_errorf(err, LOOM_ERR_PLUGIN,
                               "node type '%s': input %zu has no name or no type", t->name, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->inputs[j].name, in->name) == 0)
                return loom_errorf(err, LOOM_ERR_PLUGIN,
                                   "node type '%s': input '%s' declared twice", t->name, in->name);
        if (input_is_combo(in) && !in->choices && !in->model_folder && !in->choices_fn)
            return loom_errorf(err, LOOM_ERR_PLUGIN,
                               "node type '%s': COMBO input '%s' has no choices", t->name,
                               in->name);
    }
    for (size_t i = 0; i < t->n_outputs; i++)
        if (!t->outputs[i].type || !t->outputs[i].type[0])
            return loom_errorf(err, LOOM_ERR_PLUGIN, "node type '%s': output %zu has no type",
                               t->name, i);
    return LOOM_OK;
}

int registry_add(registry *reg, const loom_node_type *type,
                 void (*release)(const loom_node_type *type), const char *module,
                 loom_error *err)
{
    int rc = check_descriptor(type, err);
    if (rc)
        return rc;
    bool found;
    size_t at = registry_search(reg, type->name, &found);
    if (found)
        return loom_errorf(err, LOOM_ERR_PLUGIN,
                           "node class '%s' is already registered by '%s'", type->name,
                           reg->items[at].module ? reg->items[at].module : "?");
    if (reg->len == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 64;
        reg_entry *items = realloc(reg->items, cap * sizeof *items);
        if (!items)
            return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory registering '%s'", type->name);
        reg->items = items;
        reg->cap = cap;
    }
    char *mod = strdup(module ? module : "loom");
    if (!mod)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory registering '%s'", type->name);
    memmove(&reg->items[at + 1], &reg->items[at], (reg->len - at) * sizeof *reg->items);
    reg->items[at] = (reg_entry){type, release, mod};
    reg->len++;
    return LOOM_OK;
}

const loom_node_type *registry_find(const registry *reg, const char *class_type)
{
    bool found;
    if (!class_type)
        return NULL;
    size_t at = registry_search(reg, class_type, &found);
    return found ? reg->items[at].type : NULL;
}

const char *registry_module(const registry *reg, const char *class_type)
{
    bool found;
    size_t at = registry_search(reg, class_type, &found);
    return found ? reg->items[at].module : NULL;
}

size_t registry_count(const registry *reg) { return reg->len; }

const loom_node_type *registry_at(const registry *reg, size_t i)
{
    return i < reg->len ? reg->items[i].type : NULL;
}

const loom_input *node_find_input(const loom_node_type *t, const char *name)
{
    for (size_t i = 0; i < t->n_inputs; i++)
        if (strcmp(t->inputs[i].name, name) == 0)
            return &t->inputs[i];
    return NULL;
}

bool input_is_combo(const loom_input *in)
{
    return strcmp(in->type, LOOM_T_COMBO) == 0;
}

bool input_is_widget(const loom_input *in)
{
    if (in->flags & (LOOM_IN_HIDDEN | LOOM_IN_FORCE_INPUT))
        return false;
    return strcmp(in->type, LOOM_T_INT) == 0 || strcmp(in->type, LOOM_T_FLOAT) == 0 ||
           strcmp(in->type, LOOM_T_STRING) == 0 || strcmp(in->type, LOOM_T_BOOLEAN) == 0 ||
           input_is_combo(in);
}

bool input_has_control_widget(const loom_input *in)
{
    if (!input_is_widget(in) || strcmp(in->type, LOOM_T_INT) != 0)
        return false;
    /* The frontend's rule: the flag, or by name when the flag is absent. */
    return (in->flags & LOOM_IN_CONTROL_SEED) || strcmp(in->name, "seed") == 0 ||
           strcmp(in->name, "noise_seed") == 0;
}

void registry_remove_module(registry *reg, const char *module)
{
    size_t w = 0;
    for (size_t i = 0; i < reg->len; i++) {
        reg_entry *e = &reg->items[i];
        if (strcmp(e->module, module) == 0) {
            if (e->release)
                e->release(e->type);
            free(e->module);
        } else {
            reg->items[w++] = *e;
        }
    }
    reg->len = w;
}
