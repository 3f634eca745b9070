/* fixture.h: reading reference tensors from tests/fixtures and comparing loom's numbers
 * with them under stated tolerances.
 *
 * An element passes when |got - want| <= abs_tol + rel_tol * |want| (numpy's allclose).
 * On failure the report names the tensor, the worst element (flat index and coordinates),
 * both values, and the largest absolute and relative errors over the whole tensor, so a
 * failing parity test says where to look.
 */
#ifndef LOOM_TEST_FIXTURE_H
#define LOOM_TEST_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "loom/safetensors.h"
#include "loom/tensor.h"

typedef struct fixture_tol {
    double abs_tol, rel_tol;
} fixture_tol;

typedef struct fixture_report {
    double  max_abs, max_rel;  /* over all elements */
    int64_t worst;             /* flat index of the element furthest outside tolerance */
    int64_t n_bad;
} fixture_report;

/* Open <fixtures_dir>/<relpath>; fixtures_dir from $LOOM_FIXTURES_DIR or the build's
 * default. NULL (with a message on stderr) if it cannot be read. */
loom_safetensors *fixture_open(const char *relpath);
/* The tensor `name` converted to f32 (new reference), or NULL with a message. */
loom_tensor      *fixture_tensor(loom_safetensors *st, const char *name);
/* Compare n floats with want (f32, n elements). Prints a one-line verdict; true = pass. */
bool              fixture_compare(const char *what, const float *got, const loom_tensor *want,
                                  fixture_tol tol, fixture_report *report);
const char       *fixture_dir(void);

#endif
