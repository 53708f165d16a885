/* The small C project built by build.sh with make -j2 (tree tests). */
#include <stdint.h>

uint32_t crc32_of(const char *s);
int primes_below(int n);
uint64_t fib(int n);
uint64_t fnv1a64(const char *s);
uint64_t sorted_checksum(int n, uint32_t seed);
