/* unicode_norm.h: Unicode normalisation forms NFC, NFD, NFKC and NFKD (UAX #15), for the
 * tokenizer.json normalisers of those names and the NFC step of ftfy in Wan's cleaning. */
#ifndef LOOM_TEXT_UNICODE_NORM_H
#define LOOM_TEXT_UNICODE_NORM_H

#include <stddef.h>

#include "tok_internal.h"

typedef enum uni_form { UNI_NFC, UNI_NFD, UNI_NFKC, UNI_NFKD } uni_form;

/* Append the normalised form of s[0..n) (valid UTF-8) to out; 0 ok, -1 out of memory. */
int uni_normalize(uni_form form, const char *s, size_t n, tok_buf *out);

#endif
