/* wan_clean.h: the prompt cleaning of Wan's official pipeline and diffusers' WanPipeline
 * (spec wan.md §1.1): the deterministic part of ftfy.fix_text, html.unescape twice, and
 * whitespace collapsing. ComfyUI does NOT clean prompts; only the "official" text path
 * uses this.
 *
 * Reproduced: ftfy's HTML unescape (skipped when the text holds '<'), terminal-escape
 * removal, C1 controls read as Windows-1252, Latin ligatures, character width (the NFKC of
 * U+FF01..U+FFEF and the ideographic space), curly quotes, line breaks, control-character
 * removal and NFC, repeated until nothing changes; Python's html.unescape (numeric
 * references with its replacement rules, every HTML5 named reference, legacy names without
 * ';'); \s runs -> one space, strip. Not reproduced: ftfy's mojibake heuristics
 * (fix_encoding), which only act on text that was decoded with the wrong codec.
 */
#ifndef LOOM_TEXT_WAN_CLEAN_H
#define LOOM_TEXT_WAN_CLEAN_H

#include "loom/error.h"

/* The cleaned text, malloc'd and NUL-terminated; NULL with err set when out of memory. */
char *wan_clean_prompt(const char *text, loom_error *err);

#endif
