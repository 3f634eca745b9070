/* test_prompt.c: ComfyUI's prompt weighting and Wan's official cleaning.
 *
 * The weighting cases and their expected segments were produced by running ComfyUI's own
 * parse_parentheses / token_weights / escape_important / unescape_important (comfy/sd1_clip.py)
 * on each input; weights are compared exactly (they are the same double arithmetic).
 * Unicode normalisation is compared with Python's unicodedata. Cleaning is compared with
 * prompts.json's `cleaned` text (diffusers prompt_clean with
 * ftfy 6.3) and the cleaned, truncated ids with `.clean_ids`. */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "prompt_weights.h"
#include "unicode_norm.h"
#include "wan_clean.h"

typedef struct seg_case {
    const char *text;
    size_t      n;
    const char *seg[4];
    double      w[4];
} seg_case;

static const seg_case weight_cases[] = {
    {"a cat", 1, {"a cat"}, {1.0}},
    {"a (cat) b", 3, {"a ", "cat", " b"}, {1.0, 1.1, 1.0}},
    {"((cat))", 1, {"cat"}, {1.2100000000000002}},
    {"(cat:1.5) dog", 2, {"cat", " dog"}, {1.5, 1.0}},
    {"(a:b)", 1, {"a:b"}, {1.1}},
    {"(:2)", 1, {":2"}, {1.1}},
    {"(a:1.2:3)", 1, {"a:1.2"}, {3.0}},
    {"a) (b) (c)", 1, {"a) (b) (c)"}, {1.0}},
    {"a (b", 2, {"a ", "(b"}, {1.0, 1.0}},
    {"x)((y))", 3, {"x)(", "y", ")"}, {1.0, 1.1, 1.0}},
    {"\\(literal\\) (w:0.5)", 2, {"(literal) ", "w"}, {1.0, 0.5}},
    {"(a (b:2) c)", 3, {"a ", "b", " c"}, {1.1, 2.0, 1.1}},
    {"( spaced : 1_0 )", 1, {" spaced "}, {10.0}},
    {"(x:0x10)", 1, {"x:0x10"}, {1.1}},
    {"(x: 1e-1 )", 1, {"x"}, {0.1}},
    {"()", 0, {NULL}, {0}},
    {"(x:)", 1, {"x:"}, {1.1}},
    {"((a:2))", 1, {"a"}, {2.0}},
    {"a) (b (c)", 2, {"a) (b ", "c"}, {1.0, 1.1}},
    {"(x:\xE3\x80\x80" "1.5\xE3\x80\x80)", 1, {"x"}, {1.5}},   /* float() strips U+3000 too */
};

static void check_weights(void)
{
    for (size_t c = 0; c < sizeof weight_cases / sizeof weight_cases[0]; c++) {
        const seg_case *k = &weight_cases[c];
        prompt_segment *segs = NULL;
        size_t n = 0;
        loom_error err = {0};
        CHECK_MSG(prompt_parse_weights(k->text, &segs, &n, &err) == LOOM_OK, "%s: %s", k->text, err.msg);
        CHECK_MSG(n == k->n, "'%s': %zu segments, want %zu", k->text, n, k->n);
        for (size_t i = 0; i < n && i < k->n; i++) {
            CHECK_STR(segs[i].text, k->seg[i]);
            CHECK_MSG(segs[i].weight == k->w[i], "'%s' segment %zu: weight %.17g, want %.17g", k->text, i,
                      segs[i].weight, k->w[i]);
        }
        prompt_segments_free(segs, n);
    }
    /* (x:inf) parses as Python float('inf') */
    prompt_segment *segs = NULL;
    size_t n = 0;
    loom_error err = {0};
    CHECK(prompt_parse_weights("(x:inf)", &segs, &n, &err) == LOOM_OK && n == 1 && isinf(segs[0].weight));
    prompt_segments_free(segs, n);
    /* nesting deeper than the limit is an error, not a stack overflow */
    char deep[2 * PROMPT_MAX_NESTING + 8];
    size_t d = 0;
    for (int i = 0; i < PROMPT_MAX_NESTING + 2; i++)
        deep[d++] = '(';
    deep[d++] = 'x';
    for (int i = 0; i < PROMPT_MAX_NESTING + 2; i++)
        deep[d++] = ')';
    deep[d] = 0;
    CHECK(prompt_parse_weights(deep, &segs, &n, &err) == LOOM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "nest");
}

/* ids of text through the tokenizer alone (no EOS) */
static tok_ids ids_of(const tok_model *tok, const char *text)
{
    tok_ids ids = {0};
    loom_error err = {0};
    tok_encode(tok, text, strlen(text), &ids, &err);
    return ids;
}

/* Expected tokens: the concatenated ids of the given (segment, weight) pairs + EOS + pads. */
static void check_tokens(const tok_model *tok, const char *prompt, size_t n_parts, const char *const *parts,
                         const double *weights)
{
    prompt_tokens t;
    loom_error err = {0};
    CHECK_MSG(prompt_tokenize(tok, prompt, 512, &t, &err) == LOOM_OK, "%s: %s", prompt, err.msg);
    size_t k = 0;
    int ok = 1;
    for (size_t p = 0; p < n_parts; p++) {
        tok_ids ids = ids_of(tok, parts[p]);
        for (size_t i = 0; i < ids.n; i++, k++)
            ok &= k < t.n && t.ids[k] == ids.ids[i] && t.weights[k] == weights[p];
        tok_ids_free(&ids);
    }
    ok &= k < t.n && t.ids[k] == 1 && t.weights[k] == 1.0 && t.length == k + 1 && t.n == 512;
    for (size_t i = k + 1; i < t.n; i++)
        ok &= t.ids[i] == 0 && t.weights[i] == 1.0;
    CHECK_MSG(ok, "'%s': tokens differ from the segment-wise encoding (length %zu, n %zu)", prompt, t.length, t.n);
    prompt_tokens_free(&t);
}

static void check_tokenize(const tok_model *tok)
{
    /* each segment is tokenized whole, with its own leading U+2581 */
    const char *p1[] = {"a cat ", "walking", " on grass"};
    check_tokens(tok, "a cat (walking:1.3) on grass", 3, p1, (double[]){1.0, 1.3, 1.0});
    const char *p2[] = {"(literal)"};
    check_tokens(tok, "\\(literal\\)", 1, p2, (double[]){1.0});
    /* a missing embedding is dropped; the words after it stay (ComfyUI's leftover) */
    const char *p3[] = {"a", "b c"};
    check_tokens(tok, "a embedding:foo b c", 2, p3, (double[]){1.0, 1.0});
    const char *p4[] = {"a", ", x"};
    check_tokens(tok, "a embedding:foo, x", 2, p4, (double[]){1.0, 1.0});
    const char *p5[] = {"a", "bar"};   /* str.split() splits at U+3000 as well */
    check_tokens(tok, "a embedding:foo\xE3\x80\x80" "bar", 2, p5, (double[]){1.0, 1.0});
    /* empty prompt: EOS then pads */
    check_tokens(tok, "", 0, NULL, NULL);
    /* no truncation: a long prompt keeps every token */
    char *long_text = malloc(6000 * 3 + 1);
    for (int i = 0; i < 6000; i++)
        memcpy(long_text + 3 * i, "ab ", 3);
    long_text[6000 * 3] = 0;
    prompt_tokens t;
    loom_error err = {0};
    CHECK(prompt_tokenize(tok, long_text, 512, &t, &err) == LOOM_OK);
    tok_ids all = ids_of(tok, long_text);
    CHECK_MSG(t.length == all.n + 1 && t.n == t.length && t.n > 512, "long prompt: %zu tokens", t.length);
    tok_ids_free(&all);
    prompt_tokens_free(&t);
    free(long_text);
}

static void check_cleaning(const tok_model *hf)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokens/prompts.json", fixture_dir());
    json_object *root = json_object_from_file(path), *list;
    loom_safetensors *st = fixture_open("tokens/token_ids.safetensors");
    CHECK(root && st && json_object_object_get_ex(root, "prompts", &list));
    if (!root || !st) {
        json_object_put(root);
        loom_safetensors_close(st);
        return;
    }
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *p = json_object_array_get_idx(list, i), *name, *text, *cleaned;
        json_object_object_get_ex(p, "name", &name);
        json_object_object_get_ex(p, "text", &text);
        json_object_object_get_ex(p, "cleaned", &cleaned);
        loom_error err = {0};
        char *got = wan_clean_prompt(json_object_get_string(text), &err);
        CHECK_MSG(got && !strcmp(got, json_object_get_string(cleaned)), "%s: cleaned '%s', want '%s'",
                  json_object_get_string(name), got ? got : "(null)", json_object_get_string(cleaned));
        char tname[256];
        snprintf(tname, sizeof tname, "%s.clean_ids", json_object_get_string(name));
        loom_tensor *want = loom_safetensors_get(st, tname);
        prompt_tokens t;
        CHECK(want && got && prompt_tokenize_plain(hf, got, 512, &t, &err) == LOOM_OK);
        if (want && got) {
            CHECK_MSG(t.n == 512 && !memcmp(t.ids, want->data, 512 * sizeof(int32_t)), "%s: clean ids differ",
                      tname);
            prompt_tokens_free(&t);
        }
        loom_tensor_unref(want);
        free(got);
    }
    json_object_put(root);
    loom_safetensors_close(st);
}

/* NFC, NFD, NFKC, NFKD against Python 3.11's unicodedata.normalize (Unicode 14): composition,
 * canonical reordering of marks, Hangul, singletons, compatibility forms, a leading mark. */
static const struct { const char *in, *out[4]; } norm_cases[] = {
    {"\x65\xCC\x81", {"\xC3\xA9", "\x65\xCC\x81", "\xC3\xA9", "\x65\xCC\x81"}},
    {"\xEF\xAC\x81\x6E\x61\x6C", {"\xEF\xAC\x81\x6E\x61\x6C", "\xEF\xAC\x81\x6E\x61\x6C", "\x66\x69\x6E\x61\x6C", "\x66\x69\x6E\x61\x6C"}},
    {"\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", {"\xEA\xB0\x81", "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81", "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"}},
    {"\xE2\x84\xAB", {"\xC3\x85", "\x41\xCC\x8A", "\xC3\x85", "\x41\xCC\x8A"}},
    {"\x61\xCC\x82\xCC\xA3", {"\xE1\xBA\xAD", "\x61\xCC\xA3\xCC\x82", "\xE1\xBA\xAD", "\x61\xCC\xA3\xCC\x82"}},
    {"\x61\xCC\xA3\xCC\x82", {"\xE1\xBA\xAD", "\x61\xCC\xA3\xCC\x82", "\xE1\xBA\xAD", "\x61\xCC\xA3\xCC\x82"}},
    {"\xE2\x91\xA0\xEF\xBD\xB6\xE3\x80\x80\x78", {"\xE2\x91\xA0\xEF\xBD\xB6\xE3\x80\x80\x78", "\xE2\x91\xA0\xEF\xBD\xB6\xE3\x80\x80\x78", "\x31\xE3\x82\xAB\x20\x78", "\x31\xE3\x82\xAB\x20\x78"}},
    {"\xCC\x81\x61", {"\xCC\x81\x61", "\xCC\x81\x61", "\xCC\x81\x61", "\xCC\x81\x61"}},
    {"\xEA\xB0\x81", {"\xEA\xB0\x81", "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81", "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"}},
    {"\x43\x72\xC3\xA8\x6D\x65\x20\xC2\xBA\x20\xC2\xBD", {"\x43\x72\xC3\xA8\x6D\x65\x20\xC2\xBA\x20\xC2\xBD", "\x43\x72\x65\xCC\x80\x6D\x65\x20\xC2\xBA\x20\xC2\xBD", "\x43\x72\xC3\xA8\x6D\x65\x20\x6F\x20\x31\xE2\x81\x84\x32", "\x43\x72\x65\xCC\x80\x6D\x65\x20\x6F\x20\x31\xE2\x81\x84\x32"}},
};

static void check_unicode_norm(void)
{
    static const char *const names[] = {"NFC", "NFD", "NFKC", "NFKD"};
    for (size_t c = 0; c < sizeof norm_cases / sizeof norm_cases[0]; c++)
        for (int f = 0; f < 4; f++) {
            tok_buf out = {0};
            CHECK(uni_normalize((uni_form)f, norm_cases[c].in, strlen(norm_cases[c].in), &out) == 0);
            CHECK_MSG(out.data && !strcmp(out.data, norm_cases[c].out[f]), "%s of case %zu", names[f], c);
            tok_buf_free(&out);
        }
    /* ftfy's final NFC is part of the Wan cleaning: a decomposed accent comes out composed */
    loom_error err = {0};
    char *clean = wan_clean_prompt("Cre\xCC\x80me  br\xC3\xBBle\xCC\x81" "e", &err);
    CHECK_STR(clean, "Cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e");
    free(clean);
}

int main(void)
{
    check_weights();
    check_unicode_norm();
    char path[4096];
    loom_error err = {0};
    tok_model *spm = NULL, *hf = NULL;
    snprintf(path, sizeof path, "%s/tokenizer/spiece.model", fixture_dir());
    CHECK_MSG(tok_load_file(path, &spm, &err) == LOOM_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/tokenizer/tokenizer.json", fixture_dir());
    CHECK_MSG(tok_load_file(path, &hf, &err) == LOOM_OK, "%s", err.msg);
    if (spm)
        check_tokenize(spm);
    if (hf)
        check_cleaning(hf);
    tok_free(spm);
    tok_free(hf);
    return check_summary("test_prompt");
}
