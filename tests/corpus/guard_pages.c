// corpus: guard regions (MADV_GUARD_INSTALL, Linux 6.13): guard pages fault, the pages around them keep their data, VmFlags "gu" also where the guards were removed
// expect: exact
#include "corpus.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
#define PG 4096

static sigjmp_buf jb;
static void on_segv(int s) { (void)s; siglongjmp(jb, 1); }

static int faults(volatile char *p) {
	if (sigsetjmp(jb, 1))
		return 1;
	(void)*p;
	return 0;
}

static void flags_of(void *addr, char *out, size_t n) {
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;
	out[0] = 0;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo;
		if (sscanf(line, "%lx-", &lo) == 1 && line[strcspn(line, " ") - 1] != ':') {
			in = lo == (unsigned long)addr;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(out, n, "%s", line + 9);
			break;
		}
	}
	if (f)
		fclose(f);
}

int main(void) {
	char *m = mmap(NULL, 5 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *r = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || r == MAP_FAILED)
		die("mmap");
	strcpy(m, "zero");
	strcpy(m + 2 * PG, "two");
	strcpy(m + 4 * PG, "four");
	if (madvise(m + PG, PG, MADV_GUARD_INSTALL) || madvise(m + 3 * PG, PG, MADV_GUARD_INSTALL)) {
		if (errno == EINVAL) { /* a kernel without guard regions: nothing to test */
			running("guard_pages");
			work(NULL);
			return finish();
		}
		die("MADV_GUARD_INSTALL");
	}
	strcpy(r + PG, "kept");
	if (madvise(r, PG, MADV_GUARD_INSTALL) || madvise(r, PG, MADV_GUARD_REMOVE))
		die("guard install/remove");
	char fm[256], fr[256];
	flags_of(m, fm, sizeof fm);
	flags_of(r, fr, sizeof fr);
	struct sigaction sa = {.sa_handler = on_segv};
	sigaction(SIGSEGV, &sa, NULL);
	running("guard_pages");
	work(NULL);
	if (!faults(m + PG) || !faults(m + 3 * PG))
		fail("a guard page does not fault");
	if (faults(m) || faults(m + 2 * PG) || faults(m + 4 * PG) || faults(r))
		fail("a page next to the guards faults");
	else if (strcmp(m, "zero") || strcmp(m + 2 * PG, "two") || strcmp(m + 4 * PG, "four") || r[0] || strcmp(r + PG, "kept"))
		fail("content differs");
	char now[256];
	flags_of(m, now, sizeof now);
	if (strcmp(now, fm))
		fail("VmFlags \"%s\", was \"%s\"", now, fm);
	flags_of(r, now, sizeof now);
	if (strcmp(now, fr))
		fail("VmFlags of the unguarded mapping \"%s\", was \"%s\"", now, fr);
	return finish();
}
