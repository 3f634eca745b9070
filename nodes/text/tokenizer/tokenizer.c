/* tokenizer.c: the tokenizer's public entry points: load from a file (picking the front
 * end by name), encode through whichever pipeline the model came with, free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

int tok_load_file(const char *path, tok_model **out, loom_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return loom_errorf(err, LOOM_ERR_NOT_FOUND, "tokenizer file '%s' cannot be opened", path);
    char *data = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || (unsigned long)size > TOK_MAX_FILE_BYTES || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return loom_errorf(err, LOOM_ERR_INVALID, "tokenizer file '%s' is unreadable or larger than %u bytes",
                           path, TOK_MAX_FILE_BYTES);
    }
    data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        fclose(f);
        return loom_errorf(err, LOOM_ERR_IO, "tokenizer file '%s' could not be read", path);
    }
    fclose(f);
    size_t n = strlen(path);
    int rc = n >= 5 && !strcmp(path + n - 5, ".json") ? tok_load_hf_json(data, (size_t)size, path, out, err)
                                                      : tok_load_spm(data, (size_t)size, path, out, err);
    free(data);
    return rc;
}

void tok_free(tok_model *m)
{
    if (!m)
        return;
    tok_vocab_free(&m->vocab);
    tok_hf_free(m->hf);
    tok_spm_free(m->spm);
    free(m);
}

int tok_encode(const tok_model *m, const char *text, size_t len, tok_ids *out, loom_error *err)
{
    if (len > TOK_MAX_TEXT_BYTES)
        return loom_errorf(err, LOOM_ERR_INVALID, "tokenizer: text of %zu bytes exceeds the limit of %u",
                           len, TOK_MAX_TEXT_BYTES);
    return m->hf ? tok_hf_encode(m, text, len, out, err) : tok_spm_encode(m, text, len, out, err);
}

int32_t tok_eos_id(const tok_model *m) { return m->eos_id; }
int32_t tok_pad_id(const tok_model *m) { return m->pad_id; }
size_t  tok_vocab_size(const tok_model *m) { return (size_t)m->n_ids; }
