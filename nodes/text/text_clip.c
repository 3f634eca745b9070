/* text_clip.c: loading a CLIP (encoder + its tokenizer) and encoding weighted tokens the
 * way ComfyUI's Wan text encoder does (see text_clip.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "text_clip.h"

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Tokenizer files a diffusers layout keeps beside or next to the text encoder. */
static int find_tokenizer_file(const char *weights, char *out, size_t cap)
{
    struct stat st;
    char dir[3072];
    snprintf(dir, sizeof dir, "%s", weights);
    if (stat(weights, &st) != 0 || !S_ISDIR(st.st_mode)) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
    }
    static const char *const rel[] = {"spiece.model", "tokenizer.json", "../tokenizer/spiece.model",
                                      "../tokenizer/tokenizer.json"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        if ((size_t)snprintf(out, cap, "%s/%s", dir, rel[i]) < cap && is_file(out))
            return 1;
    }
    return 0;
}

int text_clip_load(const char *path, text_clip **out, loom_error *err)
{
    *out = NULL;
    text_clip *c = calloc(1, sizeof *c);
    if (!c)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory loading '%s'", path);
    int rc = umt5_load(path, &c->encoder, err);
    const loom_tensor *spm = rc ? NULL : umt5_spiece_model(c->encoder);
    if (rc == LOOM_OK && spm) {
        snprintf(c->tokenizer_source, sizeof c->tokenizer_source, "%s (spiece_model)", path);
        rc = tok_load_spm(spm->data, loom_tensor_nbytes(spm), c->tokenizer_source, &c->tokenizer, err);
    } else if (rc == LOOM_OK) {
        if (find_tokenizer_file(path, c->tokenizer_source, sizeof c->tokenizer_source))
            rc = tok_load_file(c->tokenizer_source, &c->tokenizer, err);
        else
            rc = loom_errorf(err, LOOM_ERR_NOT_FOUND, "'%s' has no spiece_model tensor and no spiece.model or "
                             "tokenizer.json beside it or in a sibling tokenizer/ folder", path);
    }
    if (rc == LOOM_OK && (tok_eos_id(c->tokenizer) < 0 ||
                          (int64_t)tok_vocab_size(c->tokenizer) > umt5_config_of(c->encoder)->vocab))
        rc = loom_errorf(err, LOOM_ERR_INVALID, "tokenizer %s (%zu pieces%s) does not fit the encoder's %lld-row "
                         "embedding", c->tokenizer_source, tok_vocab_size(c->tokenizer),
                         tok_eos_id(c->tokenizer) < 0 ? ", no </s>" : "",
                         (long long)umt5_config_of(c->encoder)->vocab);
    if (rc) {
        text_clip_free(c);
        return rc;
    }
    *out = c;
    return LOOM_OK;
}

void text_clip_free(text_clip *c)
{
    if (!c)
        return;
    umt5_free(c->encoder);
    tok_free(c->tokenizer);
    free(c);
}

/* Progress over several passes of the encoder. */
typedef struct pass_progress {
    umt5_progress_fn fn;
    void            *user;
    int64_t          pass, passes;
} pass_progress;

static int report_pass(void *user, int64_t layer, int64_t n_layers)
{
    pass_progress *p = user;
    return p->fn ? p->fn(p->user, p->pass * n_layers + layer, p->passes * n_layers) : 0;
}

/* One masked pass: ids[0..n) with `length` real tokens; rows after them zeroed. */
static int encode_pass(text_clip *c, const int32_t *ids, int64_t n, int64_t length, float *z, pass_progress *pp,
                       loom_error *err)
{
    int rc = umt5_forward(c->encoder, ids, n, length, z, report_pass, pp, err);
    int64_t D = umt5_config_of(c->encoder)->d_model;
    if (rc == LOOM_OK)
        memset(z + length * D, 0, (size_t)((n - length) * D) * sizeof *z);
    pp->pass++;
    return rc;
}

int text_clip_encode(text_clip *c, const prompt_tokens *t, umt5_progress_fn progress, void *user,
                     loom_tensor **context, loom_error *err)
{
    *context = NULL;
    const int64_t n = (int64_t)t->n, D = umt5_config_of(c->encoder)->d_model;
    int weighted = 0;
    for (int64_t j = 0; j < n; j++)
        weighted |= t->weights[j] != 1.0;
    loom_tensor *ctx = loom_tensor_new(LOOM_F32, 3, (int64_t[]){1, n, D}, err);
    if (!ctx)
        return err ? err->code : LOOM_ERR_NOMEM;
    pass_progress pp = {progress, user, 0, weighted ? 2 : 1};
    float *z = ctx->data;
    int rc = encode_pass(c, t->ids, n, (int64_t)t->length, z, &pp, err);
    if (rc == LOOM_OK && weighted) {
        /* z_empty: EOS then pads, same length, one real token */
        int32_t *empty_ids = malloc((size_t)n * sizeof *empty_ids);
        float *e = malloc((size_t)(n * D) * sizeof *e);
        if (!empty_ids || !e) {
            rc = loom_errorf(err, LOOM_ERR_NOMEM, "out of memory for the empty-prompt encoding");
        } else {
            empty_ids[0] = tok_eos_id(c->tokenizer);
            for (int64_t j = 1; j < n; j++)
                empty_ids[j] = tok_pad_id(c->tokenizer);
            rc = encode_pass(c, empty_ids, n, 1, e, &pp, err);
        }
        for (int64_t j = 0; rc == LOOM_OK && j < n; j++) {
            if (t->weights[j] == 1.0)
                continue;
            const float w = (float)t->weights[j];
            for (int64_t d = 0; d < D; d++)
                z[j * D + d] = (z[j * D + d] - e[j * D + d]) * w + e[j * D + d];
        }
        free(empty_ids);
        free(e);
    }
    if (rc) {
        loom_tensor_unref(ctx);
        return rc;
    }
    *context = ctx;
    return LOOM_OK;
}
