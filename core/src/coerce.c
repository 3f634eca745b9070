/* coerce.c: reading workflow constants as typed values (see validate.h).
 *
 * Follows ComfyUI: INT takes integers, integral or not floats (truncated like int()),
 * numeric strings and booleans; FLOAT takes numbers and numeric strings; STRING takes
 * anything scalar; COMBO takes a string from its list. Integers keep all 64 bits, so
 * seeds up to 2^64-1 survive exactly.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_util.h"
#include "models.h"
#include "registry.h"
#include "validate.h"

bool socket_types_match(const char *output_type, const char *input_type)
{
    if (strcmp(output_type, "*") == 0 || strcmp(input_type, "*") == 0)
        return true;
    /* Overlap of two comma-separated sets. */
    for (const char *a = output_type; *a;) {
        size_t la = strcspn(a, ",");
        for (const char *b = input_type; *b;) {
            size_t lb = strcspn(b, ",");
            if (la == lb && strncmp(a, b, la) == 0)
                return true;
            b += lb + (b[lb] == ',');
        }
        a += la + (a[la] == ',');
    }
    return false;
}

char **input_choices(const loom_input *in, const char *models_dir)
{
    if (in->model_folder)
        return models_list(models_dir, in->model_folder);
    if (in->choices_fn)
        return in->choices_fn(models_dir, NULL);
    size_t n = 0;
    while (in->choices && in->choices[n])
        n++;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = strdup(in->choices[i]);
    return out;
}

/* Parse a whole string as an integer (optionally signed), like Python's int(str). */
static bool parse_int_text(const char *s, int64_t *i, uint64_t *u, bool *is_u64)
{
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return false;
    char *end;
    errno = 0;
    if (*s == '-') {
        long long v = strtoll(s, &end, 10);
        if (errno || end == s)
            return false;
        *i = v;
        *is_u64 = false;
    } else {
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s)
            return false;
        *u = v;
        *i = (int64_t)v;
        *is_u64 = v > (unsigned long long)INT64_MAX;
    }
    while (isspace((unsigned char)*end))
        end++;
    return *end == '\0';
}

static coerce_result coerce_int(const loom_input *in, json_object *v, loom_value **out,
                                char *why, size_t cap)
{
    int64_t i = 0;
    uint64_t u = 0;
    bool is_u64 = false;
    switch (json_object_get_type(v)) {
    case json_type_int: {
        int64_t s = json_object_get_int64(v);
        uint64_t us = json_object_get_uint64(v);
        if (s == INT64_MAX && us > (uint64_t)INT64_MAX) {
            u = us;
            is_u64 = true;
        } else {
            i = s;
        }
        break;
    }
    case json_type_double: {
        double d = json_object_get_double(v);
        /* int(1e23) is a valid Python int, just too big for a ranged input; 2^64 itself
         * equals the largest seed once both are doubles, so it is compared apart */
        if (isfinite(d) && (in->flags & LOOM_IN_HAS_RANGE)) {
            if (d > in->max || d >= 18446744073709551616.0)
                return COERCE_TOO_BIG;
            if (d < in->min)
                return COERCE_TOO_SMALL;
        }
        if (!isfinite(d) || d >= 18446744073709551616.0 || d < -9223372036854775808.0) {
            snprintf(why, cap, "%g is not a representable integer", d);
            return COERCE_BAD_TYPE;
        }
        d = trunc(d);
        if (d >= 9223372036854775808.0) {
            u = (uint64_t)d;
            is_u64 = true;
        } else {
            i = (int64_t)d;
        }
        break;
    }
    case json_type_boolean:
        i = json_object_get_boolean(v);
        break;
    case json_type_string:
        if (!parse_int_text(json_object_get_string(v), &i, &u, &is_u64)) {
            snprintf(why, cap, "invalid literal for int(): '%.200s'", json_object_get_string(v));
            return COERCE_BAD_TYPE;
        }
        break;
    default:
        snprintf(why, cap, "expected an integer, got %s",
                 json_type_to_name(json_object_get_type(v)));
        return COERCE_BAD_TYPE;
    }
    if (in->flags & LOOM_IN_HAS_RANGE) {
        long double x = is_u64 ? (long double)u : (long double)i;
        if (x < (long double)in->min)
            return COERCE_TOO_SMALL;
        if (x > (long double)in->max)
            return COERCE_TOO_BIG;
    }
    *out = is_u64 ? loom_value_u64(u) : loom_value_int(i);
    return COERCE_OK;
}

static coerce_result coerce_float(const loom_input *in, json_object *v, loom_value **out,
                                  char *why, size_t cap)
{
    double d;
    switch (json_object_get_type(v)) {
    case json_type_int:
        d = json_object_get_uint64(v) > (uint64_t)INT64_MAX ? (double)json_object_get_uint64(v)
                                                             : (double)json_object_get_int64(v);
        break;
    case json_type_double:
        d = json_object_get_double(v);
        break;
    case json_type_boolean:
        d = json_object_get_boolean(v);
        break;
    case json_type_string: {
        const char *s = json_object_get_string(v);
        char *end;
        d = strtod(s, &end);
        while (isspace((unsigned char)*end))
            end++;
        if (end == s || *end) {
            snprintf(why, cap, "could not convert string to float: '%.200s'", s);
            return COERCE_BAD_TYPE;
        }
        break;
    }
    default:
        snprintf(why, cap, "expected a number, got %s", json_type_to_name(json_object_get_type(v)));
        return COERCE_BAD_TYPE;
    }
    if (isnan(d)) {
        snprintf(why, cap, "NaN is not a valid value");
        return COERCE_BAD_TYPE;
    }
    if (in->flags & LOOM_IN_HAS_RANGE) {
        if (d < in->min)
            return COERCE_TOO_SMALL;
        if (d > in->max)
            return COERCE_TOO_BIG;
    }
    *out = loom_value_float(d);
    return COERCE_OK;
}

static coerce_result coerce_bool(json_object *v, loom_value **out, char *why, size_t cap)
{
    switch (json_object_get_type(v)) {
    case json_type_boolean:
        *out = loom_value_bool(json_object_get_boolean(v));
        return COERCE_OK;
    case json_type_int:
    case json_type_double:
        *out = loom_value_bool(json_object_get_double(v) != 0);
        return COERCE_OK;
    case json_type_string: {
        /* ComfyUI's bool(str) makes "false" true; people mean false, so we read words. */
        const char *s = json_object_get_string(v);
        if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes") ||
            !strcasecmp(s, "on") || !strcasecmp(s, "enable")) {
            *out = loom_value_bool(true);
            return COERCE_OK;
        }
        if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no") ||
            !strcasecmp(s, "off") || !strcasecmp(s, "disable") || !s[0]) {
            *out = loom_value_bool(false);
            return COERCE_OK;
        }
        snprintf(why, cap, "'%.200s' is not a boolean (true/false)", s);
        return COERCE_BAD_TYPE;
    }
    default:
        snprintf(why, cap, "expected a boolean, got %s", json_type_to_name(json_object_get_type(v)));
        return COERCE_BAD_TYPE;
    }
}

static coerce_result coerce_string(json_object *v, loom_value **out, char *why, size_t cap)
{
    switch (json_object_get_type(v)) {
    case json_type_string:
        *out = loom_value_string(json_object_get_string(v));
        return COERCE_OK;
    case json_type_int:
    case json_type_double:
        *out = loom_value_string(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        return COERCE_OK;
    case json_type_boolean:
        *out = loom_value_string(json_object_get_boolean(v) ? "True" : "False");
        return COERCE_OK;
    default:
        snprintf(why, cap, "expected a string, got %s", json_type_to_name(json_object_get_type(v)));
        return COERCE_BAD_TYPE;
    }
}

coerce_result coerce_constant(const loom_input *in, json_object *v, char *const *choices,
                              loom_value **out, char *why, size_t cap)
{
    *out = NULL;
    why[0] = '\0';
    json_object *inner = json_get(v, "__value__");
    if (inner)
        v = inner;
    const char *t = in->type;
    coerce_result r;
    if (!strcmp(t, LOOM_T_INT))
        r = coerce_int(in, v, out, why, cap);
    else if (!strcmp(t, LOOM_T_FLOAT))
        r = coerce_float(in, v, out, why, cap);
    else if (!strcmp(t, LOOM_T_BOOLEAN))
        r = coerce_bool(v, out, why, cap);
    else if (!strcmp(t, LOOM_T_STRING))
        r = coerce_string(v, out, why, cap);
    else if (!strcmp(t, LOOM_T_COMBO)) {
        const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
        if (!s) {
            snprintf(why, cap, "expected one of the listed strings, got %s",
                     json_type_to_name(json_object_get_type(v)));
            return COERCE_NOT_IN_LIST;
        }
        for (char *const *c = choices; c && *c; c++) {
            if (strcmp(*c, s) == 0) {
                *out = loom_value_string(s);
                return *out ? COERCE_OK : COERCE_BAD_TYPE;
            }
        }
        return COERCE_NOT_IN_LIST;
    } else {
        snprintf(why, cap, "'%s' is a %s socket and needs a link, not a constant", in->name, t);
        return COERCE_BAD_TYPE;
    }
    if (r == COERCE_OK && !*out) {
        snprintf(why, cap, "out of memory");
        return COERCE_BAD_TYPE;
    }
    return r;
}

coerce_result coerce_input(const loom_input *in, json_object *v, const char *models_dir,
                           loom_value **out, char *why, size_t cap)
{
    char **choices = input_is_combo(in) ? input_choices(in, models_dir) : NULL;
    coerce_result r = coerce_constant(in, v, choices, out, why, cap);
    models_list_free(choices);
    return r;
}
