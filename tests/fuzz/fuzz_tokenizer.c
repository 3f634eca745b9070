/* fuzz_tokenizer.c: libFuzzer target for the text front end (nodes/text/tokenizer).
 *
 * The first byte picks what the rest of the input is:
 *   0  a prompt: weighting syntax + tokenization with a small built-in tokenizer.json,
 *      and Wan's prompt cleaning;
 *   1  a tokenizer.json file;
 *   2  a SentencePiece .model protobuf;
 *   3  a precompiled charsmap, wrapped into an otherwise valid .model.
 * A file that loads is used to encode a few fixed prompts. Every rejection must carry a
 * message; ASan/UBSan catch the rest. Needs the loom_tokenizer library linked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prompt_weights.h"
#include "tokenizer.h"
#include "wan_clean.h"

static const char tiny_json[] =
    "{\"added_tokens\": [{\"id\": 1, \"content\": \"</s>\"}, {\"id\": 4, \"content\": \"<x>\", \"lstrip\": true,"
    " \"rstrip\": true}],"
    " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Strip\", \"strip_left\": false,"
    " \"strip_right\": true}, {\"type\": \"Replace\", \"pattern\": {\"Regex\": \" {2,}\"}, \"content\": \"\\u2581\"}]},"
    " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"},"
    " {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"add_prefix_space\": true}]},"
    " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\"}},"
    " {\"SpecialToken\": {\"id\": \"</s>\"}}], \"special_tokens\": {\"</s>\": {\"id\": \"</s>\", \"ids\": [1]}}},"
    " \"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"byte_fallback\": true, \"vocab\": [[\"<pad>\", 0.0],"
    " [\"</s>\", 0.0], [\"<unk>\", 0.0], [\"<0x41>\", 0.0], [\"<x>\", 0.0], [\"\\u2581\", -2.0], [\"a\", -3.0],"
    " [\"\\u2581a\", -1.5], [\"ab\", -2.5], [\"b\", -3.0], [\"\\u00e9\", -4.0]]}}";

static const char *const probes[] = {"", "a cat", "  (x:1.5)  ab\xC3\xA9 \xF0\x9F\x90\xB6 </s><x>", "\xFF\xFE a",
                                     "\xE2\x96\x81\xE2\x96\x81\x62"};

static void encode_probes(const tok_model *m)
{
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        tok_ids ids = {0};
        loom_error err = {0};
        if (tok_encode(m, probes[i], strlen(probes[i]), &ids, &err) != LOOM_OK && !err.msg[0])
            abort();
        for (size_t k = 0; k < ids.n; k++)
            if (ids.ids[k] < 0)
                abort();
        tok_ids_free(&ids);
    }
}

static void fuzz_prompt(const char *text)
{
    static tok_model *tiny;
    loom_error err = {0};
    if (!tiny && tok_load_hf_json(tiny_json, strlen(tiny_json), "tiny.json", &tiny, &err) != LOOM_OK)
        abort();
    prompt_tokens t;
    if (prompt_tokenize(tiny, text, 8, &t, &err) == LOOM_OK) {
        if (t.n < 8 || t.length == 0 || t.length > t.n)
            abort();
        prompt_tokens_free(&t);
    } else if (!err.msg[0]) {
        abort();
    }
    char *clean = wan_clean_prompt(text, &err);
    if (!clean)
        abort();
    if (prompt_tokenize_plain(tiny, clean, 16, &t, &err) == LOOM_OK) {
        if (t.n != 16)
            abort();
        prompt_tokens_free(&t);
    }
    free(clean);
}

/* A .model with three pieces (<unk>, ▁, a) and the given charsmap. */
static size_t wrap_charsmap(const uint8_t *cm, size_t n, uint8_t *out)
{
    static const uint8_t pieces[] = {
        0x0A, 0x09, 0x0A, 0x05, '<', 'u', 'n', 'k', '>', 0x18, 0x02,           /* type UNKNOWN */
        0x0A, 0x0A, 0x0A, 0x03, 0xE2, 0x96, 0x81, 0x15, 0x00, 0x00, 0x80, 0xBF, /* ▁ score -1 */
        0x0A, 0x08, 0x0A, 0x01, 'a', 0x15, 0x00, 0x00, 0x00, 0xC0};             /* a score -2 */
    size_t o = sizeof pieces;
    memcpy(out, pieces, o);
    out[o++] = 0x1A;                          /* normalizer_spec */
    uint8_t spec[16];
    size_t sl = 0, len = n;
    spec[sl++] = 0x12;                        /* precompiled_charsmap, length varint */
    do {
        spec[sl++] = (uint8_t)((len & 0x7F) | (len > 0x7F ? 0x80 : 0));
        len >>= 7;
    } while (len);
    size_t total = sl + n;
    do {
        out[o++] = (uint8_t)((total & 0x7F) | (total > 0x7F ? 0x80 : 0));
        total >>= 7;
    } while (total);
    memcpy(out + o, spec, sl);
    memcpy(out + o + sl, cm, n);
    return o + sl + n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    tok_model *m = NULL;
    loom_error err = {0};
    int rc = LOOM_OK;
    switch (data[0] & 3) {
    case 0: {
        char *text = malloc(n + 1);   /* a C string: stops at the first NUL, as node inputs do */
        if (!text)
            return 0;
        memcpy(text, body, n);
        text[n] = 0;
        fuzz_prompt(text);
        free(text);
        return 0;
    }
    case 1: {
        char *copy = malloc(n ? n : 1);   /* exact extent for ASan */
        if (!copy)
            return 0;
        memcpy(copy, body, n);
        rc = tok_load_hf_json(copy, n, "fuzz.json", &m, &err);
        free(copy);
        break;
    }
    case 2: {
        uint8_t *copy = malloc(n ? n : 1);
        if (!copy)
            return 0;
        memcpy(copy, body, n);
        rc = tok_load_spm(copy, n, "fuzz.model", &m, &err);
        free(copy);
        break;
    }
    default: {
        uint8_t *model = malloc(n + 64);
        if (!model)
            return 0;
        size_t len = wrap_charsmap(body, n, model);
        rc = tok_load_spm(model, len, "fuzz-charsmap.model", &m, &err);
        free(model);
        break;
    }
    }
    if (rc == LOOM_OK) {
        encode_probes(m);
        tok_free(m);
    } else if (!err.msg[0] || m) {
        abort();
    }
    return 0;
}
