// corpus: resource limits lowered by the app (soft and hard)
// expect: exact
#include "corpus.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }

static const struct { int res; rlim_t cur, max; } want[] = {
	{RLIMIT_NOFILE, 200, 300}, {RLIMIT_CORE, 0, 4096}, {RLIMIT_STACK, 4 << 20, 16 << 20},
	{RLIMIT_NPROC, 5000, 6000}, {RLIMIT_MSGQUEUE, 1000, 2000}, {RLIMIT_CPU, 3600, RLIM_INFINITY},
};
#define N (int)(sizeof want / sizeof want[0])

int main(void) {
	for (int i = 0; i < N; i++) {
		struct rlimit l = {want[i].cur, want[i].max};
		if (setrlimit(want[i].res, &l)) bail("setrlimit");
	}
	running("rlimits");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	for (int i = 0; i < N; i++) {
		struct rlimit l;
		if (getrlimit(want[i].res, &l) || l.rlim_cur != want[i].cur || l.rlim_max != want[i].max) {
			printf("FAIL: limit %d is %llu/%llu, want %llu/%llu\n", want[i].res, (unsigned long long)l.rlim_cur,
			       (unsigned long long)l.rlim_max, (unsigned long long)want[i].cur, (unsigned long long)want[i].max);
			return 1;
		}
	}
	printf("PASS\n");
	return 0;
}
