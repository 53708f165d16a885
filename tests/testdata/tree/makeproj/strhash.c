#include "proj.h"

/* FNV-1a, 64 bits. */
uint64_t fnv1a64(const char *s) {
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}
