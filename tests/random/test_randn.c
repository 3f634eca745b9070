/* test_randn.c: loom_randn against torch's CPU randn (tests/fixtures/randn), for seeds
 * including 2^32+5 (only the low 32 bits count) and 2^64-1, and sizes below 16, exactly
 * 16, not a multiple of 16 and a latent. Also checks the fixture helper itself: a
 * perturbed copy must fail and name the worst element. */
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "loom/random.h"

/* torch's vectorised path uses Sleef's log/sin/cos (1 ulp); libm may differ by an ulp or
 * two, so values agree to float rounding, not bit for bit. */
static const fixture_tol randn_tol = {.abs_tol = 2e-6, .rel_tol = 2e-6};

int main(void)
{
    loom_safetensors *st = fixture_open("randn/randn.safetensors");
    CHECK(st != NULL);
    if (!st)
        return check_summary("test_randn");
    static const char *const seeds[] = {"0", "5", "1234", "4294967301", "18446744073709551615"};
    static const char *const sizes[] = {"n7", "n16", "n37", "n100", "latent"};
    for (size_t s = 0; s < 5; s++) {
        for (size_t k = 0; k < 5; k++) {
            char name[96];
            snprintf(name, sizeof name, "seed%s.%s", seeds[s], sizes[k]);
            loom_tensor *want = fixture_tensor(st, name);
            CHECK_MSG(want, "%s", name);
            if (!want)
                continue;
            int64_t n = loom_tensor_numel(want);
            float *got = malloc((size_t)n * sizeof *got);
            loom_randn(strtoull(seeds[s], NULL, 10), got, n);
            CHECK(fixture_compare(name, got, want, randn_tol, NULL));
            if (s == 2 && k == 4) {
                /* The helper must be able to fail, and say where. */
                got[77] += 0.01f;
                fixture_report r;
                CHECK(!fixture_compare("perturbed copy (expected FAIL)", got, want, randn_tol, &r));
                CHECK(r.worst == 77 && r.n_bad == 1);
            }
            free(got);
            loom_tensor_unref(want);
        }
    }
    loom_safetensors_close(st);
    return check_summary("test_randn");
}
