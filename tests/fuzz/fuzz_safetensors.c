/* fuzz_safetensors.c: libFuzzer target for the safetensors header parser.
 *
 * Feeds arbitrary bytes to loom_safetensors_open_memory. When a file is accepted, every
 * tensor view is created and every byte it claims is read, so an accepted header whose
 * offsets escaped the buffer shows up as an AddressSanitizer error rather than passing.
 */
#include "loom/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy, so ASan sees the exact extent of the "file". */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    loom_safetensors *st = NULL;
    loom_error err;
    if (loom_safetensors_open_memory(buf, size, "fuzz.safetensors", &st, &err) == 0) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < loom_safetensors_count(st); i++) {
            const char *name = loom_safetensors_name(st, i);
            loom_tensor *t = loom_safetensors_get(st, name);
            if (!t) abort();                       /* every listed name must resolve */
            const uint8_t *p = t->data;
            size_t n = loom_tensor_nbytes(t);
            for (size_t k = 0; k < n; k++) sink ^= p[k];
            loom_tensor_unref(t);
        }
        for (size_t i = 0; i < loom_safetensors_metadata_count(st); i++) {
            const char *v = NULL;
            const char *k = loom_safetensors_metadata_at(st, i, &v);
            if (!k || !v || loom_safetensors_metadata(st, k) == NULL) abort();
        }
        (void)sink;
        loom_safetensors_close(st);
    } else if (err.msg[0] == 0) {
        abort();                                   /* a rejection must explain itself */
    }
    free(buf);
    return 0;
}
