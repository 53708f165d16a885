#include <stdlib.h>
#include "proj.h"

/* The number of primes below n, by a sieve. */
int primes_below(int n) {
	char *comp = calloc((size_t)n, 1);
	int count = 0;
	for (int i = 2; i < n; i++) {
		if (comp[i])
			continue;
		count++;
		for (long j = (long)i * i; j < n; j += i)
			comp[j] = 1;
	}
	free(comp);
	return count;
}
