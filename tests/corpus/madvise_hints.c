// corpus: madvise hints and mlock as smaps VmFlags (sr rr dc wf dd hg nh lo lf), a read-only file mapping made writable, a shared mapping of a read-only fd, shared anonymous memory with and without MAP_NORESERVE
// expect: exact
#include "corpus.h"
#include <sys/mman.h>

#define PG 4096
#define N 10

/* flags_of returns the VmFlags line of the mapping holding addr (page 0 of
 * the region, without a hint, may have merged with an anonymous mapping just
 * below it). */
static int flags_of(void *addr, char *out, size_t n) {
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		die("open smaps");
	char line[512];
	int in = 0, rc = -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, ' ') == line + strcspn(line, " ")) {
			in = lo <= (unsigned long)addr && (unsigned long)addr < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(out, n, "%s", line + 9);
			out[strcspn(out, "\n")] = 0;
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

static char *region;
static char before[N + 5][256];
static char *extra[5];

static void touch(int i) { region[(i % N) * PG + 8]++; }

int main(void) {
	region = mmap(NULL, N * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		die("mmap");
	/* Page 0 has no hint; each other page its own, so each is its own VMA. */
	int adv[] = {0, MADV_SEQUENTIAL, MADV_RANDOM, MADV_DONTFORK, MADV_WIPEONFORK, MADV_DONTDUMP, MADV_HUGEPAGE, MADV_NOHUGEPAGE};
	for (int i = 1; i < 8; i++)
		if (madvise(region + i * PG, PG, adv[i]))
			die("madvise");
	if (mlock(region + 8 * PG, PG))
		die("mlock");
	if (mlock2(region + 9 * PG, PG, MLOCK_ONFAULT))
		die("mlock2");
	/* A file opened read-only, mapped private read-only, then made writable. */
	int ro = open("/etc/passwd", O_RDONLY);
	if (ro < 0)
		die("open /etc/passwd");
	extra[0] = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, ro, 0);
	if (extra[0] == MAP_FAILED || mprotect(extra[0], PG, PROT_READ | PROT_WRITE))
		die("mmap/mprotect private");
	extra[0][0] = '#';
	/* The same file shared read-only: may-read but not may-write. */
	extra[1] = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
	if (extra[1] == MAP_FAILED)
		die("mmap shared ro");
	close(ro);
	/* PROT_NONE reserved, then part made writable (what thread stacks do). */
	extra[2] = mmap(NULL, 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (extra[2] == MAP_FAILED || mprotect(extra[2] + PG, PG, PROT_READ | PROT_WRITE))
		die("mmap/mprotect guard");
	/* Shared anonymous memory, with and without MAP_NORESERVE. */
	extra[3] = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	extra[4] = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (extra[3] == MAP_FAILED || extra[4] == MAP_FAILED)
		die("mmap shared");
	extra[3][0] = extra[4][0] = 's';
	for (int i = 0; i < N; i++)
		if (flags_of(region + i * PG, before[i], sizeof before[i]))
			die("no VmFlags");
	for (int i = 0; i < 5; i++)
		if (flags_of(extra[i], before[N + i], sizeof before[N + i]))
			die("no VmFlags");
	running("madvise_hints");
	work(touch);
	for (int i = 0; i < N + 5; i++) {
		char now[256];
		void *a = i < N ? region + i * PG : extra[i - N];
		if (flags_of(a, now, sizeof now))
			fail("mapping %d (%p) gone", i, a);
		else if (strcmp(now, before[i]))
			fail("mapping %d VmFlags \"%s\", was \"%s\"", i, now, before[i]);
	}
	if (extra[0][0] != '#')
		fail("private copy of /etc/passwd lost its write");
	return finish();
}
