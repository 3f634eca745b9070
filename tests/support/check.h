/* check.h: the tiny assertion kit the C tests share. A failed CHECK prints the file, line
 * and expression (plus an optional message) and counts a failure; the test's main returns
 * check_summary(), which prints "N passed, N failed" and the exit status. */
#ifndef LOOM_TEST_CHECK_H
#define LOOM_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond) CHECK_MSG(cond, "%s", "")
#define CHECK_MSG(cond, ...)                                                        \
    do {                                                                            \
        if (cond) {                                                                 \
            check_passed++;                                                         \
        } else {                                                                    \
            check_failed++;                                                         \
            fprintf(stderr, "%s:%d: check failed: %s ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                    \
        }                                                                           \
    } while (0)
#define CHECK_STR(a, b) CHECK_MSG((a) && (b) && strcmp((a), (b)) == 0, "('%s' vs '%s')", \
                                  (a) ? (a) : "(null)", (b) ? (b) : "(null)")
#define CHECK_CONTAINS(hay, needle) \
    CHECK_MSG((hay) && strstr((hay), (needle)), "('%s' lacks '%s')", (hay) ? (hay) : "(null)", needle)

static inline int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
