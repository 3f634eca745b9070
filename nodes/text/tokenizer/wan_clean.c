/* wan_clean.c: Wan's prompt cleaning (ftfy.fix_text subset, html.unescape x2, whitespace
 * collapse), step for step as the Python reference runs it (see wan_clean.h for what is and
 * is not reproduced).
 *
 * ftfy works line by line (each segment ends after a '\n'); once a line holds '<', HTML
 * unescaping is off for it and every later line. Within a line the fixers run in ftfy's
 * order and the whole sequence repeats until the text stops changing. Each fixer is one
 * pass over a UTF-8 buffer; the per-character ones share map_chars().
 */
#include <stdlib.h>
#include <string.h>

#include "html_entities.h"
#include "tok_internal.h"
#include "unicode_norm.h"
#include "wan_clean.h"

/* ftfy repeats its fixers until nothing changes; real text settles in 2-3 rounds. */
#define FTFY_MAX_ROUNDS 16

typedef const char *(*char_fix)(uint32_t cp, char tmp[8]);

/* Apply fix to every code point of in; append to out. */
static int map_chars(const tok_buf *in, char_fix fix, tok_buf *out)
{
    char tmp[8];
    for (size_t i = 0; i < in->len;) {
        size_t len;
        uint32_t cp = tok_utf8_decode(in->data + i, in->len - i, &len);
        const char *rep = fix(cp, tmp);
        if (tok_buf_put(out, rep ? rep : in->data + i, rep ? strlen(rep) : len))
            return -1;
        i += len;
    }
    return tok_buf_put(out, "", 0);
}

static const char *as_utf8(uint32_t cp, char tmp[8])
{
    tmp[tok_utf8_encode(cp, tmp)] = 0;
    return tmp;
}

/* Windows-1252 for 0x80..0x9F ("sloppy": undefined bytes map to themselves). */
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

static const char *fix_c1_controls(uint32_t cp, char tmp[8])
{
    return cp >= 0x80 && cp <= 0x9F ? as_utf8(cp1252_c1[cp - 0x80], tmp) : NULL;
}

static const char *fix_latin_ligatures(uint32_t cp, char tmp[8])
{
    (void)tmp;
    switch (cp) {
    case 0x0132: return "IJ";
    case 0x0133: return "ij";
    case 0x0149: return "\xCA\xBCn";
    case 0x01F1: return "DZ";
    case 0x01F2: return "Dz";
    case 0x01F3: return "dz";
    case 0x01C4: return "D\xC5\xBD";
    case 0x01C5: return "D\xC5\xBE";
    case 0x01C6: return "d\xC5\xBE";
    case 0x01C7: return "LJ";
    case 0x01C8: return "Lj";
    case 0x01C9: return "lj";
    case 0x01CA: return "NJ";
    case 0x01CB: return "Nj";
    case 0x01CC: return "nj";
    case 0xFB00: return "ff";
    case 0xFB01: return "fi";
    case 0xFB02: return "fl";
    case 0xFB03: return "ffi";
    case 0xFB04: return "ffl";
    case 0xFB05: return "\xC5\xBFt";
    case 0xFB06: return "st";
    }
    return NULL;
}

static const char *fix_character_width(uint32_t cp, char tmp[8])
{
    (void)tmp;
    return ftfy_width(cp);
}

static const char *uncurl_quotes(uint32_t cp, char tmp[8])
{
    (void)tmp;
    if (cp == 0x02BC || (cp >= 0x2018 && cp <= 0x201B))
        return "'";
    if (cp >= 0x201C && cp <= 0x201F)
        return "\"";
    return NULL;
}

static const char *remove_control_chars(uint32_t cp, char tmp[8])
{
    (void)tmp;
    if (cp <= 0x08 || cp == 0x0B || (cp >= 0x0E && cp <= 0x1F) || cp == 0x7F ||
        (cp >= 0x206A && cp <= 0x206F) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFC))
        return "";
    return NULL;
}

static int fix_line_breaks(const tok_buf *in, tok_buf *out)
{
    for (size_t i = 0; i < in->len;) {
        size_t len;
        uint32_t cp = tok_utf8_decode(in->data + i, in->len - i, &len);
        int fail;
        if (cp == '\r' && i + 1 < in->len && in->data[i + 1] == '\n')
            len = 2, fail = tok_buf_put(out, "\n", 1);
        else if (cp == '\r' || cp == 0x2028 || cp == 0x2029 || cp == 0x85)
            fail = tok_buf_put(out, "\n", 1);
        else
            fail = tok_buf_put(out, in->data + i, len);
        if (fail)
            return -1;
        i += len;
    }
    return tok_buf_put(out, "", 0);
}

/* ANSI terminal escapes: ESC '[' (digits | ';')* letter. */
static int remove_terminal_escapes(const tok_buf *in, tok_buf *out)
{
    const char *s = in->data;
    for (size_t i = 0; i < in->len;) {
        if (s[i] == 0x1B && i + 1 < in->len && s[i + 1] == '[') {
            size_t j = i + 2;
            while (j < in->len && ((s[j] >= '0' && s[j] <= '9') || s[j] == ';'))
                j++;
            if (j < in->len && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'))) {
                i = j + 1;
                continue;
            }
        }
        if (tok_buf_put(out, s + i, 1))
            return -1;
        i++;
    }
    return tok_buf_put(out, "", 0);
}

/* ---- html.unescape (Python 3.11 html/__init__.py) ---------------------------------- */

static int is_noncharacter(uint32_t c)
{
    return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

/* A numeric reference's replacement as html.unescape gives it. */
static const char *numeric_ref(uint64_t num, char tmp[8])
{
    if (num == 0)
        return "\xEF\xBF\xBD";
    if (num == 0x0D)
        return "\r";
    if (num >= 0x80 && num <= 0x9F)
        return as_utf8(cp1252_c1[num - 0x80], tmp);
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF)
        return "\xEF\xBF\xBD";
    if ((num >= 0x01 && num <= 0x08) || (num >= 0x0E && num <= 0x1F) || (num >= 0x7F && num <= 0x9F) ||
        num == 0x0B || is_noncharacter((uint32_t)num))
        return "";
    return as_utf8((uint32_t)num, tmp);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parse "#123;" / "#x1F;" at s (after '&'); returns bytes used (0: no match). */
static size_t parse_numeric(const char *s, size_t n, uint64_t *num)
{
    size_t i = 1;
    int base = 10;
    if (n < 2 || s[0] != '#')
        return 0;
    if (s[1] == 'x' || s[1] == 'X')
        base = 16, i = 2;
    size_t digits = 0;
    *num = 0;
    for (; i < n && hexval(s[i]) >= 0 && (base == 16 || s[i] <= '9'); i++, digits++)
        if (*num <= 0x10FFFF)                    /* saturate: anything larger is U+FFFD */
            *num = *num * (uint64_t)base + (uint64_t)hexval(s[i]);
    if (!digits)
        return 0;
    if (i < n && s[i] == ';')
        i++;
    return i;
}

static int html_unescape(const tok_buf *in, tok_buf *out)
{
    const char *s = in->data;
    size_t n = in->len;
    char tmp[8];
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            if (tok_buf_put(out, s + i, 1))
                return -1;
            i++;
            continue;
        }
        uint64_t num;
        size_t used = parse_numeric(s + i + 1, n - i - 1, &num);
        if (used) {
            const char *rep = numeric_ref(num, tmp);
            if (tok_buf_put(out, rep, strlen(rep)))
                return -1;
            i += 1 + used;
            continue;
        }
        /* named: [^\t\n\f <&#;]{1,32};?  (32 code points) */
        size_t j = i + 1, chars = 0, len;
        while (j < n && chars < 32 && !strchr("\t\n\f <&#;", s[j]) ) {
            tok_utf8_decode(s + j, n - j, &len);
            j += len;
            chars++;
        }
        if (!chars) {
            if (tok_buf_put(out, "&", 1))
                return -1;
            i++;
            continue;
        }
        if (j < n && s[j] == ';')
            j++;
        const char *name = s + i + 1;
        size_t name_len = j - i - 1;
        const char *rep = html5_entity(name, name_len);
        size_t keep = name_len;
        for (size_t x = name_len - 1; !rep && x >= 2; x--) {   /* longest legacy prefix */
            rep = html5_entity(name, x);
            keep = x;
        }
        if (rep) {
            if (tok_buf_put(out, rep, strlen(rep)) || tok_buf_put(out, name + keep, name_len - keep))
                return -1;
        } else if (tok_buf_put(out, s + i, j - i)) {
            return -1;
        }
        i = j;
    }
    return tok_buf_put(out, "", 0);
}

/* ftfy's unescape_html: only "&#?[0-9A-Za-z]{1,24};" references, named ones from html5
 * (with ';') or ftfy's all-caps list, numeric ones only if html.unescape consumes them. */
static int ftfy_unescape_html(const tok_buf *in, tok_buf *out)
{
    const char *s = in->data;
    size_t n = in->len;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        if (s[i] == '&') {
            if (j < n && s[j] == '#')
                j++;
            size_t start = j;
            while (j < n && j - start < 24 && ((s[j] >= '0' && s[j] <= '9') || (s[j] >= 'a' && s[j] <= 'z') ||
                                               (s[j] >= 'A' && s[j] <= 'Z')))
                j++;
            if (j > start && j < n && s[j] == ';') {
                const char *name = s + i + 1;
                size_t len = j + 1 - (i + 1);
                const char *rep = name[0] == '#' ? NULL : html5_entity(name, len);
                if (!rep && name[0] != '#')
                    rep = ftfy_upper_entity(name, len);
                int fail = 0;
                if (rep) {
                    fail = tok_buf_put(out, rep, strlen(rep));
                } else if (name[0] == '#') {
                    tok_buf ref = {0}, dec = {0};
                    fail = tok_buf_put(&ref, s + i, j + 1 - i) || html_unescape(&ref, &dec);
                    if (!fail)
                        fail = memchr(dec.data, ';', dec.len) ? tok_buf_put(out, s + i, j + 1 - i)
                                                              : tok_buf_put(out, dec.data, dec.len);
                    tok_buf_free(&ref);
                    tok_buf_free(&dec);
                } else {
                    fail = tok_buf_put(out, s + i, j + 1 - i);
                }
                if (fail)
                    return -1;
                i = j + 1;
                continue;
            }
        }
        if (tok_buf_put(out, s + i, 1))
            return -1;
        i++;
    }
    return tok_buf_put(out, "", 0);
}

/* ---- driver ------------------------------------------------------------------------ */

/* One ftfy fix_and_explain over a line; the result replaces *line. */
static int ftfy_line(tok_buf *line, int unescape)
{
    static const char_fix char_fixes[] = {fix_c1_controls, fix_latin_ligatures, fix_character_width,
                                          uncurl_quotes};
    tok_buf next = {0};
    for (int round = 0; round < FTFY_MAX_ROUNDS; round++) {
        tok_buf orig = {0};
        if (tok_buf_put(&orig, line->data, line->len))
            return -1;
        for (int step = 0; step < 9; step++) {
            next.len = 0;
            int fail;
            if (step == 0)
                fail = unescape ? ftfy_unescape_html(line, &next) : tok_buf_put(&next, line->data, line->len);
            else if (step <= 4)
                fail = map_chars(line, char_fixes[step - 1], &next);
            else if (step == 5)
                fail = fix_line_breaks(line, &next);
            else if (step == 6)
                fail = remove_terminal_escapes(line, &next);
            else if (step == 7)
                fail = map_chars(line, remove_control_chars, &next);
            else
                fail = uni_normalize(UNI_NFC, line->data, line->len, &next);
            if (fail) {
                tok_buf_free(&orig);
                tok_buf_free(&next);
                return -1;
            }
            tok_buf t = *line;
            *line = next;
            next = t;
        }
        int same = orig.len == line->len && !memcmp(orig.data, line->data, line->len);
        tok_buf_free(&orig);
        if (same)
            break;
    }
    tok_buf_free(&next);
    return 0;
}

char *wan_clean_prompt(const char *text, loom_error *err)
{
    tok_buf src = {0}, fixed = {0}, a = {0}, b = {0}, out = {0};
    int fail = tok_utf8_sanitize(text, strlen(text), &src);
    int unescape = 1;
    for (size_t pos = 0; !fail && pos < src.len;) {      /* ftfy.fix_text: line by line */
        const char *nl = memchr(src.data + pos, '\n', src.len - pos);
        size_t end = nl ? (size_t)(nl - src.data) + 1 : src.len;
        tok_buf line = {0};
        fail = tok_buf_put(&line, src.data + pos, end - pos);
        if (!fail && memchr(line.data, '<', line.len))
            unescape = 0;
        fail = fail || ftfy_line(&line, unescape) || tok_buf_put(&fixed, line.data, line.len);
        tok_buf_free(&line);
        pos = end;
    }
    fail = fail || tok_buf_put(&fixed, "", 0) || html_unescape(&fixed, &a) || html_unescape(&a, &b);
    /* strip, then every \s run -> one space, then strip */
    int pending_space = 0;
    for (size_t i = 0; !fail && i < b.len;) {
        size_t len;
        uint32_t cp = tok_utf8_decode(b.data + i, b.len - i, &len);
        if (tok_is_space(cp, 1)) {
            pending_space = out.len > 0;
        } else {
            fail = (pending_space && tok_buf_put(&out, " ", 1)) || tok_buf_put(&out, b.data + i, len);
            pending_space = 0;
        }
        i += len;
    }
    fail = fail || tok_buf_put(&out, "", 0);
    tok_buf_free(&src);
    tok_buf_free(&fixed);
    tok_buf_free(&a);
    tok_buf_free(&b);
    if (fail) {
        tok_buf_free(&out);
        loom_errorf(err, LOOM_ERR_NOMEM, "prompt cleaning: out of memory");
        return NULL;
    }
    return out.data;
}
