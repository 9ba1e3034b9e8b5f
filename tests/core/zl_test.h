/* zl_test.h — a minimal check harness for the C unit tests. */
#ifndef ZL_TEST_H
#define ZL_TEST_H
#include <math.h>
#include <stdio.h>

static int zl_test_failures = 0;
static int zl_test_checks = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        zl_test_checks++;                                                            \
        if (!(cond)) {                                                               \
            zl_test_failures++;                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
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

static inline int zl_test_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, zl_test_checks - zl_test_failures,
           zl_test_failures);
    return zl_test_failures ? 1 : 0;
}
#endif
