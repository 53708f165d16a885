#include <stdlib.h>
#include "proj.h"

static int cmp(const void *a, const void *b) {
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* n numbers of a 32-bit LCG from seed, sorted, folded into one checksum:
 * sum of (i+1) * v[i] mod 2^64. */
uint64_t sorted_checksum(int n, uint32_t seed) {
	uint32_t *v = malloc(sizeof *v * (size_t)n);
	uint32_t x = seed;
	for (int i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		v[i] = x;
	}
	qsort(v, (size_t)n, sizeof *v, cmp);
	uint64_t s = 0;
	for (int i = 0; i < n; i++)
		s += (uint64_t)(i + 1) * v[i];
	free(v);
	return s;
}
