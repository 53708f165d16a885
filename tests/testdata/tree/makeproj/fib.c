#include "proj.h"

uint64_t fib(int n) {
	uint64_t a = 0, b = 1;
	for (int i = 0; i < n; i++) {
		uint64_t t = a + b;
		a = b;
		b = t;
	}
	return a;
}
