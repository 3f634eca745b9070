/* test_safetensors.c: write/read round trip and the rejection of malformed files.
 *
 * Round trip: every dtype, an empty tensor, metadata and unicode names come back bit for
 * bit, views outlive close(). Rejection: each malformed header below must fail with
 * LOOM_ERR_INVALID / LOOM_ERR_UNSUPPORTED and a message that names the file and (for
 * tensor-level problems) the tensor, plus the phrase that says what is wrong.
 */
#include "ops_test.h"
#include "loom/safetensors.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Build a file image: 8-byte length, header, then `data_len` bytes of data. */
static unsigned char *image(const char *hdr, size_t data_len, size_t *size)
{
    size_t h = strlen(hdr);
    *size = 8 + h + data_len;
    unsigned char *b = calloc(1, *size);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, hdr, h);
    for (size_t i = 0; i < data_len; i++) b[8 + h + i] = (unsigned char)i;
    return b;
}

static void expect_reject(const char *what, const unsigned char *buf, size_t size, const char *phrase,
                          const char *tensor)
{
    loom_safetensors *st = NULL;
    loom_error err = {0};
    int rc = loom_safetensors_open_memory(buf, size, "bad.safetensors", &st, &err);
    CHECK_MSG(rc != 0 && st == NULL, "%s: accepted", what);
    if (rc == 0) { loom_safetensors_close(st); return; }
    CHECK_MSG(rc == LOOM_ERR_INVALID || rc == LOOM_ERR_UNSUPPORTED, "%s: code %d", what, rc);
    CHECK_MSG(strstr(err.msg, "bad.safetensors") != NULL, "%s: message lacks the file name: %s", what, err.msg);
    CHECK_MSG(strstr(err.msg, phrase) != NULL, "%s: message lacks '%s': %s", what, phrase, err.msg);
    if (tensor) CHECK_MSG(strstr(err.msg, tensor) != NULL, "%s: message lacks tensor '%s': %s", what, tensor, err.msg);
    printf("  rejected %-34s -> %s\n", what, err.msg);
}

static void expect_reject_hdr(const char *what, const char *hdr, size_t data_len, const char *phrase,
                              const char *tensor)
{
    size_t size;
    unsigned char *b = image(hdr, data_len, &size);
    expect_reject(what, b, size, phrase, tensor);
    free(b);
}


/* resident pages of this process (second field of /proc/self/statm) */
static long resident_pages(void)
{
    long size = 0, res = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
        fclose(f);
    }
    return res;
}

/* drop_pages: a packed view leaves memory, its bytes read back the same; other tensors untouched */
static void drop_pages_case(const char *path)
{
    loom_error err = {0};
    int64_t n = 16 << 20;
    loom_tensor *big = loom_tensor_new(LOOM_U8, 1, &n, &err);
    for (int64_t i = 0; i < n; i++) ((uint8_t *)big->data)[i] = (uint8_t)(i * 7 + (i >> 12));
    const char *name[] = {"big"};
    loom_tensor *t[] = {big};
    CHECK_MSG(loom_safetensors_write(path, 1, name, t, NULL, &err) == 0, "write big: %s", err.msg);
    loom_safetensors *st = NULL;
    if (loom_safetensors_open(path, &st, &err)) { CHECK_MSG(0, "open big: %s", err.msg); loom_tensor_unref(big); return; }
    loom_tensor *v = loom_safetensors_get(st, "big");
    loom_safetensors_close(st);
    CHECK_MSG(v && memcmp(v->data, big->data, (size_t)n) == 0, "big view bytes");   /* touches every page */
    long before = resident_pages();
    loom_safetensors_drop_pages(v);
    long after = resident_pages();
    long page_kb = sysconf(_SC_PAGESIZE);
    CHECK_MSG(before > 0 && before - after >= (long)(n / page_kb) * 3 / 4,
              "drop_pages released the view's pages: %ld -> %ld resident pages", before, after);
    CHECK_MSG(memcmp(v->data, big->data, (size_t)n) == 0, "view reads back the same after drop_pages");
    loom_safetensors_drop_pages(big);           /* not a file view: must not be touched */
    uint64_t sum = 0;
    for (int64_t i = 0; i < n; i++) sum += ((uint8_t *)big->data)[i] != (uint8_t)(i * 7 + (i >> 12));
    CHECK_MSG(sum == 0, "drop_pages left a heap tensor alone (%llu bytes changed)", (unsigned long long)sum);
    loom_safetensors_drop_pages(NULL);
    loom_tensor_unref(v);
    loom_tensor_unref(big);
    printf("drop_pages: a 16 MiB view left memory (%ld -> %ld pages) and read back the same; heap tensors untouched\n",
           before, after);
}

int main(void)
{
    loom_error err = {0};
    const char *tmp = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/loom_test_%d.safetensors", tmp && *tmp ? tmp : "/tmp", (int)getpid());

    /* ---- round trip ---- */
    int64_t s_a[2] = {3, 5}, s_b[1] = {7}, s_c[3] = {2, 2, 2}, s_e[2] = {0, 4}, s_s[1] = {1};
    loom_tensor *ta = loom_tensor_new(LOOM_F32, 2, s_a, &err);
    loom_tensor *tb = loom_tensor_new(LOOM_BF16, 1, s_b, &err);
    loom_tensor *tc = loom_tensor_new(LOOM_I64, 3, s_c, &err);
    loom_tensor *te = loom_tensor_new(LOOM_F16, 2, s_e, &err);
    loom_tensor *tf = loom_tensor_new(LOOM_F8_E4M3, 1, s_b, &err);
    loom_tensor *ts = loom_tensor_new(LOOM_U8, 0, s_s, &err);       /* scalar */
    for (int i = 0; i < 15; i++) ((float *)ta->data)[i] = rng_n();
    for (int i = 0; i < 7; i++) ((uint16_t *)tb->data)[i] = loom_f32_to_bf16(rng_n());
    for (int i = 0; i < 8; i++) ((int64_t *)tc->data)[i] = (int64_t)rng_u64();
    for (int i = 0; i < 7; i++) ((uint8_t *)tf->data)[i] = (uint8_t)(i * 17);
    ((uint8_t *)ts->data)[0] = 42;
    const char *names[] = {"model.diffusion_model.blocks.0.weight", "b\xc3\xa9ta \"quoted\"\\", "ints", "empty", "fp8", "scalar"};
    loom_tensor *ts_all[] = {ta, tb, tc, te, tf, ts};
    const char *meta[] = {"format", "pt", "note", "line\nbreak", NULL};
    int rc = loom_safetensors_write(path, 6, names, ts_all, meta, &err);
    CHECK_MSG(rc == 0, "write: %s", err.msg);
    loom_safetensors *st = NULL;
    rc = loom_safetensors_open(path, &st, &err);
    CHECK_MSG(rc == 0, "open: %s", err.msg);
    if (rc == 0) {
        CHECK_MSG(loom_safetensors_count(st) == 6, "count");
        for (int i = 0; i < 6; i++) CHECK_MSG(strcmp(loom_safetensors_name(st, (size_t)i), names[i]) == 0, "order %d", i);
        CHECK_MSG(strcmp(loom_safetensors_metadata(st, "format"), "pt") == 0, "metadata format");
        CHECK_MSG(strcmp(loom_safetensors_metadata(st, "note"), "line\nbreak") == 0, "metadata escape");
        CHECK_MSG(loom_safetensors_metadata(st, "absent") == NULL, "absent metadata");
        CHECK_MSG(loom_safetensors_get(st, "nope") == NULL, "absent tensor");
        CHECK_MSG(!loom_safetensors_require(st, "nope", &err) && err.code == LOOM_ERR_NOT_FOUND &&
              strstr(err.msg, "nope"), "require names the missing tensor");
        loom_tensor *got[6];
        for (int i = 0; i < 6; i++) got[i] = loom_safetensors_get(st, names[i]);
        loom_safetensors_close(st);   /* views must stay valid */
        for (int i = 0; i < 6; i++) {
            CHECK_MSG(got[i] && loom_tensor_same_shape(got[i], ts_all[i]), "shape/dtype of %s", names[i]);
            if (got[i]) CHECK_MSG(memcmp(got[i]->data, ts_all[i]->data, loom_tensor_nbytes(ts_all[i])) == 0,
                              "bytes of %s", names[i]);
        }
        for (int i = 0; i < 6; i++) loom_tensor_unref(got[i]);
        printf("round trip: 6 tensors (F32, BF16, I64, empty F16, F8_E4M3, scalar U8), unicode/escaped names, "
               "metadata; views valid after close\n");
    }
    drop_pages_case(path);
    /* the data block is 64-byte aligned in files we write */
    FILE *f = fopen(path, "rb");
    unsigned char l8[8];
    CHECK_MSG(f && fread(l8, 1, 8, f) == 8, "read back length");
    if (f) fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | l8[i];
    CHECK_MSG((8 + hl) % 64 == 0, "data block aligned (header %llu)", (unsigned long long)hl);
    /* atomic overwrite leaves no temp files and replaces the content */
    loom_tensor *one[] = {ta};
    const char *one_name[] = {"only"};
    CHECK_MSG(loom_safetensors_write(path, 1, one_name, one, NULL, &err) == 0, "overwrite");
    CHECK_MSG(loom_safetensors_open(path, &st, &err) == 0 && loom_safetensors_count(st) == 1, "overwritten content");
    loom_safetensors_close(st);
    const char *dup_names[] = {"x", "x"};
    loom_tensor *dup_t[] = {ta, tb};
    CHECK_MSG(loom_safetensors_write(path, 2, dup_names, dup_t, NULL, &err) == LOOM_ERR_INVALID, "duplicate names refused");
    CHECK_MSG(loom_safetensors_open(path, &st, &err) == 0 && loom_safetensors_count(st) == 1, "failed write left file intact");
    loom_safetensors_close(st);
    char badpath[600];
    snprintf(badpath, sizeof badpath, "%s/no/such/dir/x.safetensors", tmp && *tmp ? tmp : "/tmp");
    CHECK_MSG(loom_safetensors_write(badpath, 1, one_name, one, NULL, &err) == LOOM_ERR_IO && strstr(err.msg, badpath),
          "write into missing dir: %s", err.msg);
    unlink(path);
    CHECK_MSG(loom_safetensors_open(path, &st, &err) == LOOM_ERR_NOT_FOUND && strstr(err.msg, path), "missing file");
    printf("atomic overwrite, aligned data block, refused writes leave the old file, missing file named\n");
    for (int i = 0; i < 6; i++) loom_tensor_unref(ts_all[i]);

    /* ---- malformed files ---- */
    printf("malformed headers:\n");
    unsigned char tiny[5] = {1, 2, 3, 4, 5};
    expect_reject("5-byte file", tiny, 5, "too short", NULL);
    size_t size;
    unsigned char *b = image("{}", 0, &size);
    b[0] = 200;  /* header length past the end */
    expect_reject("header length past end", b, size, "runs past the end", NULL);
    memset(b, 0xff, 8);
    expect_reject("huge header length", b, size, "exceeds the limit", NULL);
    free(b);
    expect_reject_hdr("truncated data", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
                      "run past the data block", "'w'");
    expect_reject_hdr("out-of-range offsets",
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[100,104]}}", 16, "run past", "'w'");
    expect_reject_hdr("end before begin", "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", 16,
                      "end before", "'w'");
    expect_reject_hdr("overlap",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16, "overlap", "'a'");
    expect_reject_hdr("bad dtype", "{\"w\":{\"dtype\":\"F17\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
                      "unsupported dtype", "'w'");
    expect_reject_hdr("shape/size mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16,
                      "need 12 bytes", "'w'");
    expect_reject_hdr("shape overflow",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", 16,
                      "need more than", "'w'");
    expect_reject_hdr("rank 9", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
                      "rank above", "'w'");
    expect_reject_hdr("negative dim", "{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1,
                      "non-negative integer", "'w'");
    expect_reject_hdr("float offset", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.0]}}", 1,
                      "must be an integer", NULL);
    expect_reject_hdr("offset overflow",
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}}", 1,
                      "overflows", NULL);
    expect_reject_hdr("missing data_offsets", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "lacks", "'w'");
    expect_reject_hdr("duplicate tensor",
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                      "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, "appears twice", "'w'");
    expect_reject_hdr("not an object", "[1,2,3]", 0, "must be a JSON object", NULL);
    expect_reject_hdr("unterminated string", "{\"w", 0, "unterminated", NULL);
    expect_reject_hdr("trailing garbage", "{} x", 0, "trailing", NULL);
    expect_reject_hdr("bad utf-8", "{\"\xff\":{}}", 0, "UTF-8", NULL);
    expect_reject_hdr("lone surrogate", "{\"\\ud800\":{}}", 0, "surrogate", NULL);
    expect_reject_hdr("non-string metadata", "{\"__metadata__\":{\"k\":1}}", 0, "not a string", NULL);
    expect_reject_hdr("deep nesting",
                      "{\"w\":{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                      "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", 0,
                      "nesting", NULL);
    /* accepted oddities: unknown keys skipped, spaces padding, gaps between tensors, empty file */
    b = image("{\"w\":{\"dtype\":\"U8\",\"extra\":{\"a\":[1,-2.5e3,true,null]},\"shape\":[2],\"data_offsets\":[2,4]}}   ",
              8, &size);
    rc = loom_safetensors_open_memory(b, size, "ok.safetensors", &st, &err);
    CHECK_MSG(rc == 0, "unknown keys / padding / gap accepted: %s", err.msg);
    if (rc == 0) {
        loom_tensor *w = loom_safetensors_get(st, "w");
        CHECK_MSG(w && ((uint8_t *)w->data)[0] == 2 && ((uint8_t *)w->data)[1] == 3, "offset honoured");
        loom_safetensors_close(st);
        loom_tensor_unref(w);
    }
    free(b);
    b = image("{}", 0, &size);
    CHECK_MSG(loom_safetensors_open_memory(b, size, "e", &st, &err) == 0 && loom_safetensors_count(st) == 0, "empty file");
    loom_safetensors_close(st);
    free(b);
    printf("accepted: unknown fields, trailing spaces, gaps between tensors, zero tensors\n");
    return check_summary("test_safetensors");
}
