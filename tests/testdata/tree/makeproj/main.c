#include <inttypes.h>
#include <stdio.h>
#include "proj.h"

int main(void) {
	printf("crc32(\"The quick brown fox jumps over the lazy dog\") = %08" PRIx32 "\n",
	       crc32_of("The quick brown fox jumps over the lazy dog"));
	printf("primes below 100000 = %d\n", primes_below(100000));
	printf("fib(90) = %" PRIu64 "\n", fib(90));
	printf("fnv1a64(\"crrun\") = %016" PRIx64 "\n", fnv1a64("crrun"));
	printf("sorted_checksum(1000, 42) = %" PRIu64 "\n", sorted_checksum(1000, 42));
	return 0;
}
