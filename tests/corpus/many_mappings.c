// corpus: 3000 small anonymous mappings side by side, each with its own protection (none, r, rw, rx, w), content and some with madvise hints (restore maps and protects them as batched syscalls)
// expect: exact
// chain: no the first checkpoint of 3,000 mappings, as an ordinary user on a loaded machine, can outlast the run
#include "corpus.h"
#include <sys/mman.h>

#define N 3000
#define PG 4096

static const int prots[] = {PROT_READ, PROT_READ | PROT_WRITE, PROT_NONE, PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC};
static const char *perms[] = {"r--p", "rw-p", "---p", "r-xp", "rwxp"};
#define NPROT (int)(sizeof prots / sizeof prots[0])

static char *base;

/* mapping i: 1 to 3 pages; prot i % NPROT (neighbours differ: no merging) */
static size_t pages(int i) { return 1 + (size_t)(i * 7 % 3); }

int main(void) {
	size_t total = 0;
	for (int i = 0; i < N; i++)
		total += pages(i);
	base = mmap(NULL, total * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		die("mmap");
	char *p = base;
	for (int i = 0; i < N; i++) {
		size_t n = pages(i);
		for (size_t k = 0; k < n; k++)
			snprintf(p + k * PG, 64, "mapping %d page %zu", i, k);
		if (mprotect(p, n * PG, prots[i % NPROT]))
			die("mprotect");
		if (i % 11 == 0 && madvise(p, n * PG, MADV_RANDOM))
			die("madvise(MADV_RANDOM)");
		if (i % 13 == 0 && madvise(p, n * PG, MADV_DONTFORK))
			die("madvise(MADV_DONTFORK)");
		p += n * PG;
	}
	running("many_mappings");
	work(NULL);
	/* Every mapping is still there with its protection... */
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		die("/proc/self/maps");
	char line[512];
	int seen = 0;
	p = base;
	int i = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perm[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) != 3 || lo < (unsigned long)base || lo >= (unsigned long)(base + total * PG))
			continue;
		/* adjacent mappings of one prot merge only if their hints match too:
		 * walk the expected list along the line */
		unsigned long at = lo;
		while (at < hi && i < N) {
			if ((unsigned long)p != at) {
				fail("mapping %d at %p, maps has %lx", i, (void *)p, at);
				break;
			}
			if (strcmp(perm, perms[i % NPROT])) {
				fail("mapping %d: %s, want %s", i, perm, perms[i % NPROT]);
				break;
			}
			at += pages(i) * PG;
			p += pages(i) * PG;
			i++;
			seen++;
		}
		if (at != hi) {
			fail("maps line %lx-%lx does not end on a mapping (%d)", lo, hi, i);
			break;
		}
	}
	fclose(f);
	if (seen != N)
		fail("%d of %d mappings in /proc/self/maps", seen, N);
	/* ... with its content. */
	p = base;
	for (int j = 0; j < N; j++) {
		size_t n = pages(j);
		if (!(prots[j % NPROT] & PROT_READ) && mprotect(p, n * PG, PROT_READ))
			die("mprotect(PROT_READ)");
		for (size_t k = 0; k < n; k++) {
			char want[64];
			snprintf(want, sizeof want, "mapping %d page %zu", j, k);
			if (strcmp(p + k * PG, want)) {
				fail("mapping %d page %zu: %.30s", j, k, p + k * PG);
				j = N;
				break;
			}
		}
		p += n * PG;
	}
	return finish();
}
