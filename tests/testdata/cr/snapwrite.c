// snapwrite: a victim that writes hard to its memory while a keep-running
// checkpoint drains it (the image must hold memory exactly as it was at the
// freeze, not as the app rewrote it after the thaw).
//
//	snapwrite [PASSES]
//
// Three regions: 32 MiB private anonymous (read from the copy-on-write
// snapshot after the thaw), 1 MiB MAP_SHARED anonymous and 1 MiB
// MADV_WIPEONFORK private memory (both read inside the pause). One pass
// writes the pass number into the first and last word of every page of every
// region, in order, after checking that the page holds the previous pass's
// number: the check is exact at every page, so a restored image that holds
// any page as it was later (or earlier) than the freeze fails at the first
// pass after the restore that reaches it. A pass sleeps 1 ms at its end; the
// app runs PASSES (default 1200) passes, then checks every page once more.
//
// stdout: "passes=N" then "PASS" or "FAIL: <what>" (deterministic). stderr:
// "snapwrite: pid=N", "snapwrite: running", "snapwrite: end pid=N".
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

#define PAGE 4096UL
#define WPP (PAGE / 8)

struct region {
	const char *name;
	uint64_t *p;
	size_t pages;
};

static int check(struct region *r, uint64_t want, uint64_t set) {
	for (size_t i = 0; i < r->pages; i++) {
		uint64_t *pg = r->p + i * WPP;
		if (pg[0] != want || pg[WPP - 1] != want) {
			printf("FAIL: %s page %zu holds %llu/%llu, want %llu (pass %llu)\n", r->name, i,
			       (unsigned long long)pg[0], (unsigned long long)pg[WPP - 1], (unsigned long long)want,
			       (unsigned long long)set);
			return 0;
		}
		if (set != want) pg[0] = pg[WPP - 1] = set;
	}
	return 1;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	long passes = argc > 1 ? atol(argv[1]) : 1200;
	struct region rs[3] = {{"private", NULL, 8192}, {"shared", NULL, 256}, {"wipeonfork", NULL, 256}};
	int flags[3] = {MAP_PRIVATE | MAP_ANONYMOUS, MAP_SHARED | MAP_ANONYMOUS, MAP_PRIVATE | MAP_ANONYMOUS};
	for (int k = 0; k < 3; k++) {
		rs[k].p = mmap(NULL, rs[k].pages * PAGE, PROT_READ | PROT_WRITE, flags[k], -1, 0);
		if (rs[k].p == MAP_FAILED) {
			printf("FAIL: mmap %s\n", rs[k].name);
			return 1;
		}
	}
	if (madvise(rs[2].p, rs[2].pages * PAGE, MADV_WIPEONFORK) != 0) {
		printf("FAIL: madvise(MADV_WIPEONFORK)\n");
		return 1;
	}
	fprintf(stderr, "snapwrite: pid=%d\nsnapwrite: running\n", (int)getpid());
	struct timespec ms = {0, 1000000};
	for (uint64_t pass = 0; pass < (uint64_t)passes; pass++) {
		for (int k = 0; k < 3; k++)
			if (!check(&rs[k], pass, pass + 1)) return 1;
		nanosleep(&ms, NULL);
	}
	for (int k = 0; k < 3; k++)
		if (!check(&rs[k], (uint64_t)passes, (uint64_t)passes)) return 1;
	fprintf(stderr, "snapwrite: end pid=%d\n", (int)getpid());
	printf("passes=%ld\nPASS\n", passes);
	return 0;
}
