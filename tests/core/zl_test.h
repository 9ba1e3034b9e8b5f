/* zl_test.h — the one check harness of the C unit tests: CHECK, CHECK_NEAR, zl_test_skip
 * for a part that needs data which is absent, and zl_test_summary as main's return value
 * (1 when a check failed, else 77 when a part was skipped: ctest's SKIP_RETURN_CODE, so
 * a run without ../shared/data/real says "Skipped", not "Passed"). */
#ifndef ZL_TEST_H
#define ZL_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"

#define ZL_TEST_SKIPPED 77

static int zl_test_failures = 0;
static int zl_test_checks = 0;
static int zl_test_skips = 0;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        zl_test_checks++;                                                               \
        if (!(cond)) {                                                                  \
            zl_test_failures++;                                                         \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__,     \
                    __LINE__, #cond, zl_error_get());                                   \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                          \
    do {                                                                               \
        double zl_a_ = (double)(a), zl_b_ = (double)(b);                               \
        zl_test_checks++;                                                              \
        if (!(fabs(zl_a_ - zl_b_) <= (tol))) {                                         \
            zl_test_failures++;                                                        \
            fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__,    \
                    __LINE__, #a, zl_a_, zl_b_, (double)(tol));                        \
        }                                                                              \
    } while (0)

/* A part of the test that could not run (its data is absent): says so, and the
 * summary reports the test as skipped unless a check failed. */
static inline void zl_test_skip(const char *what, const char *missing)
{
    printf("SKIP %s: %s absent\n", what, missing);
    zl_test_skips++;
}

/* The folder of the public data, $ZONELAB_SHARED/data/real (../shared/data/real when unset),
 * into real[0..n) when the file rel inside it can be read; NULL after zl_test_skip(what)
 * otherwise. */
static inline const char *zl_test_real(char *real, size_t n, const char *what, const char *rel)
{
    const char *sh = getenv("ZONELAB_SHARED");
    char path[1200];
    snprintf(real, n, "%s/data/real", sh ? sh : "../shared");
    snprintf(path, sizeof path, "%s/%s", real, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        zl_test_skip(what, path);
        return NULL;
    }
    fclose(f);
    return real;
}

static inline int zl_test_summary(const char *name)
{
    printf("%s: %d passed, %d failed%s\n", name, zl_test_checks - zl_test_failures,
           zl_test_failures, zl_test_skips ? ", some parts skipped" : "");
    return zl_test_failures ? 1 : zl_test_skips ? ZL_TEST_SKIPPED : 0;
}
#endif
