/* strbuf.h: a growable NUL-terminated string, the one string builder in core. */
#ifndef LOOM_STRBUF_H
#define LOOM_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char  *s;      /* always NUL-terminated once anything was appended */
    size_t len, cap;
    bool   oom;    /* an append failed; the content is truncated */
} strbuf;

void  sb_append (strbuf *b, const char *s);
void  sb_appendn(strbuf *b, const char *s, size_t n);
void  sb_printf (strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void  sb_vprintf(strbuf *b, const char *fmt, va_list ap);
/* Hand the string to the caller (never NULL unless out of memory); b is reset. */
char *sb_take   (strbuf *b);
void  sb_free   (strbuf *b);

#endif
