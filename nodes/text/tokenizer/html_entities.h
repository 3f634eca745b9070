/* html_entities.h: lookups into the generated entity and width tables (html_entities.c)
 * that the Wan prompt cleaner needs to reproduce Python's html.unescape and ftfy. */
#ifndef LOOM_TEXT_HTML_ENTITIES_H
#define LOOM_TEXT_HTML_ENTITIES_H

#include <stddef.h>

typedef struct html_entity {
    const char *name;   /* without '&', with ';' when the name needs one */
    const char *utf8;
} html_entity;

/* html.entities.html5[name] (name with or without its ';'), or NULL. */
const char *html5_entity(const char *name, size_t len);
/* The all-caps names ftfy also decodes ("EACUTE;" -> "É"), or NULL. */
const char *ftfy_upper_entity(const char *name, size_t len);
/* ftfy's fix_character_width replacement for code point cp, or NULL. */
const char *ftfy_width(unsigned cp);

#endif
