// corpus: personality flags (ADDR_NO_RANDOMIZE|READ_IMPLIES_EXEC), as a Lisp that re-execs itself with them
// expect: exact
#include "corpus.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <time.h>
#include <unistd.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }

/* perms of the mapping at a, from /proc/self/maps */
static void perms(void *a, char out[5]) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512]; unsigned long lo, hi;
	strcpy(out, "????");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, out) == 3 && (unsigned long)a >= lo && (unsigned long)a < hi) break;
	if (f) fclose(f);
}

int main(int argc, char **argv) {
	const int want = ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC;
	if (argc < 2) {
		if (personality(want) < 0) bail("personality");
		execl("/proc/self/exe", argv[0], "again", (char *)NULL);
		bail("re-exec");
	}
	/* exec clears READ_IMPLIES_EXEC for a binary with a non-executable stack */
	if (personality(want) < 0) bail("personality after exec");
	running("personality");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	int p = personality(0xffffffff);
	if (p != want) { printf("FAIL: personality %#x, want %#x\n", p, want); return 1; }
	/* READ_IMPLIES_EXEC acts on mappings made after the restore too */
	void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char pr[5];
	perms(m, pr);
	if (strcmp(pr, "r-xp")) { printf("FAIL: a PROT_READ mapping is %s, want r-xp\n", pr); return 1; }
	printf("PASS\n");
	return 0;
}
