/* object_info.h: node descriptors as ComfyUI /object_info JSON. */
#ifndef LOOM_OBJECT_INFO_H
#define LOOM_OBJECT_INFO_H

#include <json-c/json.h>

#include "loom/loom.h"

/* [type, {options}] for one input, as /object_info shows it (COMBO: [[choices], {...}]). */
json_object *object_info_input_config(const loom_input *in, const char *models_dir);
/* A JSON number for an INT/FLOAT limit; 18446744073709551615.0 prints as UINT64_MAX. */
json_object *object_info_number(const loom_input *in, double x);

#endif
