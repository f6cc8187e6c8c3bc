/* The ctest programs' one assertion: CHECK(cond) reports file:line and counts the failure in
 * `failures`; main returns non-zero when any failed. */
#ifndef HLX_TEST_CHECK_H
#define HLX_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

#endif
