/* kmc_test.h - a minimal assert harness for the firmware stubs' unit tests. */
#ifndef KMC_TEST_H
#define KMC_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int kmc_test_failures;
extern int kmc_test_checks;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        kmc_test_checks++;                                                            \
        if (!(cond)) {                                                                \
            kmc_test_failures++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECK_EQ_U(a, b)                                                                          \
    do {                                                                                          \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);          \
        kmc_test_checks++;                                                                        \
        if (va_ != vb_) {                                                                         \
            kmc_test_failures++;                                                                  \
            fprintf(stderr, "%s:%d: %s == %s failed: 0x%llx != 0x%llx\n", __FILE__, __LINE__, #a, \
                    #b, va_, vb_);                                                                \
        }                                                                                         \
    } while (0)

/* Compare n bytes, printing both as hex on failure. */
#define CHECK_BYTES(got, want, n) kmc_check_bytes(__FILE__, __LINE__, #got, (got), (want), (n))

void kmc_check_bytes(const char *file, int line, const char *what, const uint8_t *got,
                     const uint8_t *want, size_t n);

/* Parse a hex string (spaces allowed) into out; returns the byte count. */
size_t kmc_hex(const char *hex, uint8_t *out, size_t cap);

#endif /* KMC_TEST_H */
