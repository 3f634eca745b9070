/* test_tensor.c: tensor allocation, reference counting, dtype tables and conversions,
 * and the activation arena.
 *
 * Bounds: every conversion here is exact or correctly rounded, so the checks are exact:
 * f32 -> bf16/f16 must equal round-to-nearest-even (checked against the compiler's
 * _Float16 cast and an integer reference), and every 8/16-bit code must survive a round
 * trip through f32.
 */
#include "ops_test.h"
#include "loom/ops.h"
#include "loom/tensor.h"

#include <string.h>

static uint16_t bf16_ref(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t lower = u & 0xffff, upper = u >> 16;
    if (lower > 0x8000 || (lower == 0x8000 && (upper & 1))) upper++;
    return (uint16_t)upper;
}

static int released;
static void count_release(void *owner) { (void)owner; released++; }

int main(void)
{
    loom_error err = {0};

    /* dtype tables */
    const char *names[] = {"F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I8", "U8", "I32", "I64", "BOOL"};
    const size_t sizes[] = {4, 2, 2, 1, 1, 1, 1, 4, 8, 1};
    for (int i = 0; i < 10; i++) {
        loom_dtype d;
        CHECK_MSG(strcmp(loom_dtype_name((loom_dtype)i), names[i]) == 0, "name of dtype %d", i);
        CHECK_MSG(loom_dtype_from_name(names[i], &d) == 0 && d == (loom_dtype)i, "parse %s", names[i]);
        CHECK_MSG(loom_dtype_size((loom_dtype)i) == sizes[i], "size of %s", names[i]);
    }
    loom_dtype dd;
    CHECK_MSG(loom_dtype_from_name("F31", &dd) != 0, "unknown dtype rejected");
    printf("dtype names and sizes match the safetensors names\n");

    /* allocation, zero fill, alignment, refcount */
    int64_t shape[3] = {3, 5, 7};
    loom_tensor *t = loom_tensor_new(LOOM_F32, 3, shape, &err);
    CHECK_MSG(t && loom_tensor_numel(t) == 105 && loom_tensor_nbytes(t) == 420, "new tensor size");
    CHECK_MSG(((uintptr_t)t->data & 63) == 0, "64-byte aligned");
    int zero = 1;
    for (int i = 0; i < 105; i++) zero &= ((float *)t->data)[i] == 0.0f;
    CHECK_MSG(zero, "zero filled");
    CHECK_MSG(loom_tensor_ref(t) == t && t->refcount == 2, "ref");
    loom_tensor_unref(t);
    CHECK_MSG(t->refcount == 1, "unref");
    char buf[64];
    CHECK_MSG(strcmp(loom_tensor_describe(t, buf, sizeof buf), "[3, 5, 7] F32") == 0, "describe: %s", buf);
    loom_tensor_unref(t);
    loom_tensor_unref(NULL);
    int64_t bad[2] = {-1, 4};
    CHECK_MSG(!loom_tensor_new(LOOM_F32, 2, bad, &err) && err.code == LOOM_ERR_INVALID, "negative dim rejected");
    int64_t huge[2] = {INT64_MAX / 2, 4};
    CHECK_MSG(!loom_tensor_new(LOOM_F32, 2, huge, &err), "overflowing shape rejected");
    CHECK_MSG(!loom_tensor_new(LOOM_F32, 9, shape, &err), "rank 9 rejected");
    int64_t empty[2] = {0, 4};
    t = loom_tensor_new(LOOM_BF16, 2, empty, &err);
    CHECK_MSG(t && t->data && loom_tensor_nbytes(t) == 0, "empty tensor has data pointer");
    loom_tensor_unref(t);
    float ext[4] = {1, 2, 3, 4};
    int64_t s4 = 4;
    t = loom_tensor_wrap(LOOM_F32, 1, &s4, ext, count_release, NULL, &err);
    loom_tensor_ref(t);
    loom_tensor_unref(t);
    CHECK_MSG(released == 0, "release not called while referenced");
    loom_tensor_unref(t);
    CHECK_MSG(released == 1, "release called once at last unref");
    printf("allocation, alignment, zero fill, refcount and wrap behave\n");

    /* every bf16 / f16 code round-trips through f32 */
    int bad_bf = 0, bad_h = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = loom_bf16_to_f32((uint16_t)h);
        if (!isnan(f) && loom_f32_to_bf16(f) != h) bad_bf++;
        float g = loom_f16_to_f32((uint16_t)h);
        if (!isnan(g) && loom_f32_to_f16(g) != h) bad_h++;
        if (isnan(g) != (((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff))) bad_h++;
    }
    CHECK_MSG(bad_bf == 0 && bad_h == 0, "16-bit round trips: %d bf16, %d f16 mismatches", bad_bf, bad_h);
    /* f32 -> bf16 / f16 rounding on random and tie values */
    int bad_rne = 0;
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)rng_u64();
        if (i & 1) u = (u & 0xffff0000u) | 0x8000u;          /* exact ties */
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f)) continue;
        if (loom_f32_to_bf16(f) != bf16_ref(f)) bad_rne++;
#ifdef __FLT16_MAX__
        _Float16 hf = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &hf, 2);
        if (loom_f32_to_f16(f) != hb) bad_rne++;
#endif
    }
    CHECK_MSG(bad_rne == 0, "%d f32->bf16/f16 rounding mismatches", bad_rne);
    printf("bf16 and f16 conversions round to nearest even (2M random values and ties)\n");

    /* fp8 */
    int bad8 = 0;
    for (int c = 0; c < 256; c++) {
        float f = loom_f8e4m3_to_f32((uint8_t)c);
        if ((c & 0x7f) == 0x7f) { if (!isnan(f)) bad8++; continue; }
        if (loom_f32_to_f8e4m3(f) != c) bad8++;
        float g = loom_f8e5m2_to_f32((uint8_t)c);
        if (!isnan(g) && !isinf(g) && loom_f32_to_f8e5m2(g) != c) bad8++;
    }
    CHECK_MSG(bad8 == 0, "%d fp8 round-trip mismatches", bad8);
    CHECK_MSG(loom_f8e4m3_to_f32(0x7e) == 448.0f && loom_f32_to_f8e4m3(1e6f) == 0x7e &&
          loom_f32_to_f8e4m3(-1e6f) == 0xfe, "e4m3 max 448 and saturation");
    CHECK_MSG(loom_f8e4m3_to_f32(0x01) == 0.001953125f, "e4m3 smallest subnormal 2^-9");
    CHECK_MSG(loom_f8e5m2_to_f32(0x7b) == 57344.0f && loom_f32_to_f8e5m2(1e9f) == 0x7b, "e5m2 max and saturation");
    /* ties between neighbouring e4m3 codes go to the even code */
    int badtie = 0;
    for (int c = 0; c < 0x7d; c++) {
        float a = loom_f8e4m3_to_f32((uint8_t)c), b = loom_f8e4m3_to_f32((uint8_t)(c + 1));
        uint8_t r = loom_f32_to_f8e4m3(0.5f * (a + b));
        if (r != ((c & 1) ? c + 1 : c)) badtie++;
    }
    CHECK_MSG(badtie == 0, "%d e4m3 tie mismatches", badtie);
    printf("fp8 e4m3fn / e5m2 decode, round-trip, saturate and round ties to even\n");

    /* to_f32 / convert */
    int64_t s2[2] = {4, 33};
    loom_tensor *src = loom_tensor_new(LOOM_F32, 2, s2, &err);
    float *sp = src->data;
    for (int i = 0; i < 132; i++) sp[i] = rng_n() * 3;
    loom_dtype fdt[] = {LOOM_BF16, LOOM_F16, LOOM_F8_E4M3, LOOM_F8_E5M2, LOOM_F64};
    for (int k = 0; k < 5; k++) {
        loom_tensor *c = loom_tensor_convert(src, fdt[k], &err);
        loom_tensor *back = c ? loom_tensor_to_f32(c, &err) : NULL;
        CHECK_MSG(back != NULL, "convert to %s", loom_dtype_name(fdt[k]));
        if (!back) continue;
        double rel = fdt[k] == LOOM_F64 ? 0 : fdt[k] == LOOM_BF16 ? 1.0 / 256 : fdt[k] == LOOM_F16 ? 1.0 / 2048
                   : fdt[k] == LOOM_F8_E4M3 ? 1.0 / 16 : 1.0 / 8;
        int ok = 1;
        for (int i = 0; i < 132; i++) {
            float v = ((float *)back->data)[i];
            if (fabsf(v - sp[i]) > rel * fabsf(sp[i]) + 0.002f) ok = 0;   /* + subnormal slack for fp8 */
        }
        CHECK_MSG(ok, "%s round trip within half an ulp (rel %g)", loom_dtype_name(fdt[k]), rel);
        loom_tensor_unref(c);
        loom_tensor_unref(back);
    }
    int64_t si = 3;
    loom_tensor *it = loom_tensor_new(LOOM_I64, 1, &si, &err);
    ((int64_t *)it->data)[0] = -5; ((int64_t *)it->data)[1] = 7; ((int64_t *)it->data)[2] = 1 << 20;
    loom_tensor *itf = loom_tensor_to_f32(it, &err);
    CHECK_MSG(itf && ((float *)itf->data)[0] == -5 && ((float *)itf->data)[2] == 1048576.0f, "i64 to f32");
    CHECK_MSG(!loom_tensor_convert(it, LOOM_BF16, &err) && err.code == LOOM_ERR_UNSUPPORTED, "int convert refused");
    loom_tensor_unref(it);
    loom_tensor_unref(itf);
    loom_tensor_unref(src);
    printf("to_f32 / convert between float dtypes stay within half an ulp of the target\n");

    /* arena */
    loom_arena *a = loom_arena_new(1000, &err);
    CHECK_MSG(a != NULL, "arena");
    size_t m0 = loom_arena_mark(a);
    char *p1 = loom_arena_alloc(a, 100);
    float *p2 = loom_arena_f32(a, 10000);
    CHECK_MSG(p1 && p2 && ((uintptr_t)p1 & 63) == 0 && ((uintptr_t)p2 & 63) == 0, "arena blocks aligned");
    memset(p2, 1, 40000);
    size_t m1 = loom_arena_mark(a);
    void *p3 = loom_arena_alloc(a, 1 << 20);
    CHECK_MSG(p3 != NULL, "arena grows");
    loom_arena_reset(a, m1);
    CHECK_MSG(loom_arena_mark(a) == m1, "reset to mark");
    loom_arena_reset(a, m0);
    size_t peak = loom_arena_peak(a);
    CHECK_MSG(peak >= (1 << 20) + 40000, "peak tracked (%zu)", peak);
    void *q = loom_arena_alloc(a, (1 << 20) + 40000);
    CHECK_MSG(q != NULL && loom_arena_mark(a) <= peak + 64, "after reset one chunk holds the peak");
    loom_arena_free(a);

    /* a chunk dropped by a reset to a nonzero mark serves the next overflow: same memory,
     * contents intact (a fresh mapping would come back zeroed) */
    loom_arena *b = loom_arena_new(4096, &err);
    CHECK_MSG(b != NULL && loom_arena_alloc(b, 1000) != NULL, "arena b");
    size_t mb = loom_arena_mark(b);
    const size_t mib = (size_t)1 << 20;
    char *big1 = loom_arena_alloc(b, mib);
    CHECK_MSG(big1 != NULL, "overflow chunk");
    memset(big1, 0x5a, mib);
    loom_arena_reset(b, mb);
    CHECK_MSG(loom_arena_mark(b) == mb, "reset below the overflow chunk");
    char *again = loom_arena_alloc(b, mib);
    CHECK_MSG(again == big1 && again[mib / 2] == 0x5a, "the dropped chunk is reused");
    loom_arena_reset(b, mb);
    char *big3 = loom_arena_alloc(b, 3 * mib);
    CHECK_MSG(big3 != NULL && big3 != big1, "a larger overflow gets a new chunk");
    memset(big3, 0x3c, 3 * mib);
    loom_arena_reset(b, mb);
    again = loom_arena_alloc(b, mib);
    CHECK_MSG(again == big3 && again[mib / 2] == 0x3c, "the larger dropped chunk becomes the spare");
    loom_arena_reset(b, 0);
    CHECK_MSG(loom_arena_alloc(b, 3 * mib) != NULL, "regrow to peak after the spare");
    loom_arena_free(b);
    printf("arena: aligned bump allocation, marks, growth, regrow-to-peak on reset, spare chunk reuse\n");

    return check_summary("test_tensor");
}
