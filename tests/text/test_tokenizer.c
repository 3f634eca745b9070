/* test_tokenizer.c: token ids from both file forms against their own references
 * (tests/fixtures/tokens): tokenizer.json must give `.raw_hf_ids` (HF tokenizers) and the
 * SentencePiece model, read from spiece.model and from the `spiece_model` tensor of the
 * ComfyUI checkpoint, must give `.raw_spm_ids` (native sentencepiece), for every prompt,
 * exactly. Also: the older tokenizer.json layout (bare Precompiled, WhitespaceSplit +
 * Metaspace(add_prefix_space)) gives the same ids on cleaned prompts, sentencepiece's
 * fusing of unknown runs without byte fallback, and malformed files give errors naming the
 * file, never a crash. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "tokenizer.h"

static char *fixture_path(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", fixture_dir(), rel);
    return buf;
}

/* Encode text + EOS and compare with the int32 tensor `name`. */
static void check_ids(const tok_model *m, loom_safetensors *st, const char *prompt, const char *text,
                      const char *suffix)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prompt, suffix);
    loom_tensor *want = loom_safetensors_get(st, name);
    CHECK_MSG(want && want->dtype == LOOM_I32, "%s missing", name);
    if (!want)
        return;
    tok_ids ids = {0};
    loom_error err = {0};
    int rc = tok_encode(m, text, strlen(text), &ids, &err);
    CHECK_MSG(rc == LOOM_OK, "%s: %s", name, err.msg);
    tok_ids_push(&ids, tok_eos_id(m));
    const int32_t *w = want->data;
    size_t n = (size_t)loom_tensor_numel(want), first_bad = n;
    for (size_t i = 0; i < n && i < ids.n; i++)
        if (ids.ids[i] != w[i]) {
            first_bad = i;
            break;
        }
    if (first_bad == n && ids.n != n)
        first_bad = ids.n < n ? ids.n : n;
    CHECK_MSG(ids.n == n && first_bad == n, "%s: %zu ids vs %zu expected, first difference at %zu (got %d, want %d)",
              name, ids.n, n, first_bad, first_bad < ids.n ? ids.ids[first_bad] : -1,
              first_bad < n ? w[first_bad] : -1);
    tok_ids_free(&ids);
    loom_tensor_unref(want);
}

/* ---- a copy of spiece.model without byte pieces and byte_fallback, rewritten here ---- */

static size_t pb_varint(const uint8_t *p, size_t n, uint64_t *v)
{
    size_t i = 0;
    *v = 0;
    for (int shift = 0; i < n && shift < 64; shift += 7) {
        uint8_t b = p[i++];
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return i;
    }
    return 0;
}

static size_t put_varint(uint8_t *o, uint64_t v)
{
    size_t i = 0;
    do {
        o[i++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return i;
}

/* Copy the fields of message p[0..n) into o, dropping field `drop` (and, for pieces, the
 * ones of type BYTE when drop_bytes). Only wire types 0, 2 and 5 occur in these messages. */
static size_t copy_fields(const uint8_t *p, size_t n, uint8_t *o, uint32_t drop, int drop_bytes, int depth)
{
    size_t i = 0, w = 0;
    while (i < n) {
        uint64_t key, v = 0;
        size_t start = i, k = pb_varint(p + i, n - i, &key);
        i += k;
        int wire = (int)(key & 7);
        const uint8_t *payload = p + i;
        if (wire == 0) {
            i += pb_varint(p + i, n - i, &v);
        } else if (wire == 5) {
            i += 4;
        } else {
            i += pb_varint(p + i, n - i, &v);
            payload = p + i;
            i += v;
        }
        if ((key >> 3) == drop && depth == 1)
            continue;
        if (depth == 0 && (key >> 3) == 1 && drop_bytes) {   /* a piece: look for type 6 */
            uint64_t pk, pv;
            int is_byte = 0;
            for (size_t j = 0; j < v;) {
                j += pb_varint(payload + j, v - j, &pk);
                if ((pk & 7) == 0) {
                    j += pb_varint(payload + j, v - j, &pv);
                    is_byte |= (pk >> 3) == 3 && pv == 6;
                } else if ((pk & 7) == 5) {
                    j += 4;
                } else {
                    j += pb_varint(payload + j, v - j, &pv);
                    j += pv;
                }
            }
            if (is_byte)
                continue;
        }
        if (depth == 0 && (key >> 3) == 2) {   /* trainer_spec: rewrite without `drop` */
            uint8_t *tmp = malloc(v);
            size_t len = copy_fields(payload, v, tmp, drop, 0, 1);
            w += put_varint(o + w, key);
            w += put_varint(o + w, len);
            memcpy(o + w, tmp, len);
            w += len;
            free(tmp);
            continue;
        }
        memcpy(o + w, p + start, i - start);
        w += i - start;
    }
    return w;
}

/* Native sentencepiece fuses a run of unknown characters into one <unk> when byte fallback
 * is off. Expected ids from sentencepiece 0.2 on the same rewritten model:
 * "ᚠᛇᚻ ✓ x" -> [4, 3, 4, 3, 4, 112], "a 🐶🐶 b" -> [9, 4, 3, 83]. */
static void check_unk_fusing(void)
{
    FILE *f = fopen(fixture_path("tokenizer/spiece.model"), "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    uint8_t *in = malloc(1 << 22), *out = malloc(1 << 22);
    size_t n = fread(in, 1, 1 << 22, f);
    fclose(f);
    size_t len = copy_fields(in, n, out, 35 /* byte_fallback */, 1, 0);
    tok_model *m = NULL;
    loom_error err = {0};
    CHECK_MSG(tok_load_spm(out, len, "no-byte-fallback.model", &m, &err) == LOOM_OK, "%s", err.msg);
    if (m) {
        static const char *const text[] = {"\xE1\x9A\xA0\xE1\x9B\x87\xE1\x9A\xBB \xE2\x9C\x93 x",
                                           "a \xF0\x9F\x90\xB6\xF0\x9F\x90\xB6 b"};
        static const int32_t want[2][6] = {{4, 3, 4, 3, 4, 112}, {9, 4, 3, 83}};
        static const size_t want_n[2] = {6, 4};
        for (int t = 0; t < 2; t++) {
            tok_ids ids = {0};
            CHECK(tok_encode(m, text[t], strlen(text[t]), &ids, &err) == LOOM_OK);
            CHECK_MSG(ids.n == want_n[t] && !memcmp(ids.ids, want[t], want_n[t] * sizeof(int32_t)),
                      "unknown run %d: %zu ids", t, ids.n);
            tok_ids_free(&ids);
        }
        tok_free(m);
    }
    free(in);
    free(out);
}

static void check_malformed(void)
{
    loom_error err = {0};
    tok_model *m = NULL;
    /* protobuf: a piece field whose length runs past the end */
    static const unsigned char bad_pb[] = {0x0A, 0x7F, 0x0A, 0x01, 'a'};
    CHECK(tok_load_spm(bad_pb, sizeof bad_pb, "bad.model", &m, &err) == LOOM_ERR_INVALID && !m);
    CHECK_CONTAINS(err.msg, "bad.model");
    /* protobuf: a piece of an unknown type */
    static const unsigned char bad_type[] = {0x0A, 0x05, 0x0A, 0x01, 'a', 0x18, 0x09};
    CHECK(tok_load_spm(bad_type, sizeof bad_type, "type.model", &m, &err) == LOOM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "unknown type");
    CHECK(tok_load_spm("", 0, "empty.model", &m, &err) == LOOM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "no pieces");
    /* BPE sentencepiece: trainer_spec.model_type = 2 */
    static const unsigned char bpe[] = {0x0A, 0x03, 0x0A, 0x01, 'a', 0x12, 0x02, 0x18, 0x02};
    CHECK(tok_load_spm(bpe, sizeof bpe, "bpe.model", &m, &err) == LOOM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "Unigram");
    const char *json = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}";
    CHECK(tok_load_hf_json(json, strlen(json), "bpe.json", &m, &err) == LOOM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "bpe.json");
    json = "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.0]]}, \"normalizer\": {\"type\": \"Lowercase\"}}";
    CHECK(tok_load_hf_json(json, strlen(json), "lower.json", &m, &err) == LOOM_ERR_UNSUPPORTED && !m);
    CHECK_CONTAINS(err.msg, "Lowercase");
    /* NFKC runs: U+FF41 (full-width a) becomes the vocabulary's "a" */
    json = "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.0]]}, \"normalizer\": {\"type\": \"NFKC\"}}";
    CHECK(tok_load_hf_json(json, strlen(json), "nfkc.json", &m, &err) == LOOM_OK && m);
    if (m) {
        tok_ids ids = {0};
        CHECK(tok_encode(m, "\xEF\xBD\x81", 3, &ids, &err) == LOOM_OK && ids.n == 1 && ids.ids[0] == 0);
        tok_ids_free(&ids);
        tok_free(m);
        m = NULL;
    }
    json = "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.0]]}, \"normalizer\": "
           "{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AAAAAA==\"}}";
    CHECK(tok_load_hf_json(json, strlen(json), "charsmap.json", &m, &err) == LOOM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "charsmap");
    CHECK(tok_load_hf_json("{\"model\": [", 11, "trunc.json", &m, &err) == LOOM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "trunc.json");
    CHECK(tok_load_file("/nonexistent/tokenizer.json", &m, &err) == LOOM_ERR_NOT_FOUND);
    CHECK_CONTAINS(err.msg, "/nonexistent/tokenizer.json");
    /* a model without unk refuses text it cannot cover, with a message */
    json = "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"\\u2581a\", -1.0], [\"\\u2581\", -2.0], "
           "[\"a\", -2.0]]}, \"pre_tokenizer\": "
           "{\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"add_prefix_space\": true}}";
    CHECK(tok_load_hf_json(json, strlen(json), "nounk.json", &m, &err) == LOOM_OK && m);
    if (m) {
        tok_ids ids = {0};
        CHECK(tok_encode(m, "a", 1, &ids, &err) == LOOM_OK && ids.n == 1 && ids.ids[0] == 0);
        CHECK(tok_encode(m, "b", 1, &ids, &err) == LOOM_ERR_INVALID);
        CHECK_CONTAINS(err.msg, "unknown");
        tok_ids_free(&ids);
        tok_free(m);
    }
}

/* Older converters wrote tokenizer.json with just the Precompiled normaliser and
 * Sequence[WhitespaceSplit, Metaspace(add_prefix_space)]; on cleaned prompts (single spaces,
 * no leading or trailing space) that must give the same ids as the new form (spec §1.2). */
static void check_old_forms(loom_safetensors *st, json_object *list)
{
    json_object *root = json_object_from_file(fixture_path("tokenizer/tokenizer.json")), *norm, *seq;
    CHECK(root && json_object_object_get_ex(root, "normalizer", &norm) &&
          json_object_object_get_ex(norm, "normalizers", &seq));
    if (!root)
        return;
    json_object_object_add(root, "normalizer", json_object_get(json_object_array_get_idx(seq, 0)));
    json_object_object_add(root, "pre_tokenizer", json_tokener_parse(
        "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, {\"type\": \"Metaspace\", "
        "\"replacement\": \"\\u2581\", \"add_prefix_space\": true}]}"));
    const char *json = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    tok_model *m = NULL;
    loom_error err = {0};
    CHECK_MSG(tok_load_hf_json(json, strlen(json), "old-form tokenizer.json", &m, &err) == LOOM_OK, "%s", err.msg);
    for (size_t i = 0; m && i < json_object_array_length(list); i++) {
        json_object *p = json_object_array_get_idx(list, i), *name, *cleaned;
        json_object_object_get_ex(p, "name", &name);
        json_object_object_get_ex(p, "cleaned", &cleaned);
        char tname[256];
        snprintf(tname, sizeof tname, "%s.clean_ids", json_object_get_string(name));
        loom_tensor *want = loom_safetensors_get(st, tname);
        tok_ids ids = {0};
        const char *text = json_object_get_string(cleaned);
        CHECK(want && tok_encode(m, text, strlen(text), &ids, &err) == LOOM_OK);
        size_t n = ids.n < 511 ? ids.n : 511, ok = 1;   /* clean_ids keep 511 pieces */
        for (size_t k = 0; want && k < n; k++)
            ok &= ids.ids[k] == ((const int32_t *)want->data)[k];
        CHECK_MSG(ok, "old-form tokenizer.json differs on %s", tname);
        tok_ids_free(&ids);
        loom_tensor_unref(want);
    }
    tok_free(m);
    json_object_put(root);
}

/* Grapheme clusters decide what the HF Precompiled normaliser replaces; these strings (from a
 * differential run against tokenizers 0.23) exercise controls, ZWJ, ZWSP, BOM, flags, emoji ZWJ
 * sequences, Hangul jamo and stacked marks. Expected ids: tokenizer.json via HF tokenizers. */
static const struct { const char *text; int32_t ids[12]; size_t n; } grapheme_cases[] = {
    {"\xE1\x8D\x91\xE7\x81\xB2\xCD\x88\xE0\xA1\x87\xEA\xA2\x9D\xEA\xA6\xA6\xF3\xB9\xAC\xB1\xE2\x89\xA5\x0A\x69\x7F\xE2\x80\x8D\x3A", {260, 3, 260, 998, 3, 300}, 6},
    {"\x7B\x6C\xE7\xA2\xB8\xE2\x80\x8B\xD9\x91", {260, 829, 286, 3, 260, 3}, 6},
    {"\xEE\x82\xB4\xE2\x80\xA8\xE2\x80\x8B\xE0\xA7\xA1\xEF\xBB\xBF\xE6\x98\x9F\x34\xE2\x80\x8B\xCC\x8A\x33", {260, 3, 260, 3, 260, 3, 335, 260, 3, 957}, 10},
    {"\x61\x20\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\x20\xF0\x9F\x87\xA6\xF0\x9F\x87\xAF\xF0\x9F\x87\xA6\x20\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8\x78\x20\x65\xCC\x81\xCC\x82", {265, 260, 3, 260, 3, 260, 3, 368, 260, 296}, 10},
};

static void check_graphemes(const tok_model *hf)
{
    for (size_t c = 0; c < sizeof grapheme_cases / sizeof grapheme_cases[0]; c++) {
        tok_ids ids = {0};
        loom_error err = {0};
        CHECK(tok_encode(hf, grapheme_cases[c].text, strlen(grapheme_cases[c].text), &ids, &err) == LOOM_OK);
        CHECK_MSG(ids.n == grapheme_cases[c].n && !memcmp(ids.ids, grapheme_cases[c].ids, ids.n * sizeof(int32_t)),
                  "grapheme case %zu: %zu ids", c, ids.n);
        tok_ids_free(&ids);
    }
}

int main(void)
{
    loom_error err = {0};
    tok_model *hf = NULL, *spm = NULL, *embedded = NULL;
    CHECK_MSG(tok_load_file(fixture_path("tokenizer/tokenizer.json"), &hf, &err) == LOOM_OK, "%s", err.msg);
    CHECK_MSG(tok_load_file(fixture_path("tokenizer/spiece.model"), &spm, &err) == LOOM_OK, "%s", err.msg);
    /* the SentencePiece proto embedded in the ComfyUI checkpoint */
    loom_safetensors *ckpt = fixture_open("models/text_encoders/umt5_tiny_fp32.safetensors");
    loom_tensor *blob = ckpt ? loom_safetensors_get(ckpt, "spiece_model") : NULL;
    CHECK(blob && blob->dtype == LOOM_U8);
    if (blob)
        CHECK_MSG(tok_load_spm(blob->data, loom_tensor_nbytes(blob), "spiece_model", &embedded, &err) == LOOM_OK,
                  "%s", err.msg);
    loom_safetensors *st = fixture_open("tokens/token_ids.safetensors");
    json_object *prompts = json_object_from_file(fixture_path("tokens/prompts.json")), *list = NULL;
    CHECK(st && prompts && json_object_object_get_ex(prompts, "prompts", &list));
    if (hf && spm && embedded && st && list) {
        CHECK(tok_eos_id(hf) == 1 && tok_eos_id(spm) == 1 && tok_pad_id(spm) == 0);
        size_t n = json_object_array_length(list);
        CHECK(n >= 16);
        for (size_t i = 0; i < n; i++) {
            json_object *p = json_object_array_get_idx(list, i), *name, *text;
            json_object_object_get_ex(p, "name", &name);
            json_object_object_get_ex(p, "text", &text);
            const char *pn = json_object_get_string(name), *pt = json_object_get_string(text);
            check_ids(hf, st, pn, pt, "raw_hf_ids");
            check_ids(spm, st, pn, pt, "raw_spm_ids");
            check_ids(embedded, st, pn, pt, "raw_spm_ids");
        }
        check_old_forms(st, list);
        check_graphemes(hf);
    }
    check_malformed();
    check_unk_fusing();
    json_object_put(prompts);
    loom_safetensors_close(st);
    loom_tensor_unref(blob);
    loom_safetensors_close(ckpt);
    tok_free(hf);
    tok_free(spm);
    tok_free(embedded);
    return check_summary("test_tokenizer");
}
