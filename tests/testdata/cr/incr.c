// incr: memory that a checkpoint chain must carry exactly. A buffer of N MiB
// whose every page holds f(page, version[page]); each round rewrites a slice
// (some pages by the CPU, some by the kernel: read(2) from a pipe), and, in
// churn mode, maps a new region, unmaps an old one and drops pages with
// MADV_DONTNEED (then zero). Every round checks every page against the
// versions (also kept in memory): a restore that gave back a stale page, or
// lost a new one, prints FAIL. After ROUNDS rounds it prints PASS.
// With fork, it forks once the file TRIGGER exists and both go on (the
// child prints "PASS child", the parent waits for it); with exec, it execs
// itself then (a new mm) for the rounds left.
//   incr ROUNDS MIB [churn|scatter|small|fork TRIGGER|exec TRIGGER]
// (execd: churn, as the image an exec made; it says so once its memory is made)
// (every mode churns; scatter also rewrites scattered pages, not a run;
// small rewrites 1 % a round, not 5 %)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/wait.h>

#define PG 4096
static volatile long inprog = -1; // the page being rewritten (torn if frozen)

static void fill(uint64_t *p, long page, long v) {
	for (int i = 0; i < PG / 8; i++)
		p[i] = (uint64_t)page * 0x9e3779b97f4a7c15ull ^ (uint64_t)v * 0xc2b2ae3d27d4eb4full ^ (uint64_t)i;
}

static int check(const uint64_t *p, long page, long v) {
	if (v < 0) { // dropped: zero
		for (int i = 0; i < PG / 8; i++)
			if (p[i]) return 0;
		return 1;
	}
	for (int i = 0; i < PG / 8; i++)
		if (p[i] != ((uint64_t)page * 0x9e3779b97f4a7c15ull ^ (uint64_t)v * 0xc2b2ae3d27d4eb4full ^ (uint64_t)i)) return 0;
	return 1;
}

#define NREG 4
struct region { char *base; long pages; long *ver; long id; };
static struct region regs[NREG];

static void newregion(struct region *r, long pages, long id) {
	r->base = mmap(0, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r->ver = calloc(pages, sizeof(long));
	if (r->base == MAP_FAILED || !r->ver) { perror("mmap"); exit(2); }
	r->pages = pages;
	r->id = id;
	for (long i = 0; i < pages; i++)
		fill((uint64_t *)(r->base + i * PG), id * 1000000 + i, 0);
}

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage: incr ROUNDS MIB [churn]\n"); return 2; }
	long rounds = atol(argv[1]), pages = atol(argv[2]) * 256;
	const char *mode = argc > 3 ? argv[3] : "";
	int churn = argc > 3;
	// scatter: the slice is rewritten as pages 3 apart for one half (the
	// unchanged pages between them too few to refer to: saved anew) and
	// 23 apart for the other (referred to as parts of the parent's
	// extents), not as one run.
	int scatter = !strcmp(mode, "scatter");
	pid_t child = -1;
	const char *trigger = argc > 4 ? argv[4] : 0;
	int pfd[2];
	if (pipe(pfd)) { perror("pipe"); return 2; }
	newregion(&regs[0], pages, 0);
	long nreg = 1, nextid = 1;
	if (churn)
		for (; nreg < NREG; nreg++) newregion(&regs[nreg], 64, nextid++);
	static uint64_t tmp[PG / 8];
	long slice = pages / (strcmp(mode, "small") ? 20 : 100) + 1; // 5 %, or 1 % with small
	long cursor = 0;
	fprintf(stderr, "incr: running pid %d\n", getpid());
	if (!strcmp(mode, "execd")) // the image exec'd (below), its memory made
		fprintf(stderr, "incr: exec'd image ready\n");
	for (long r = 0; r < rounds; r++) {
		// Check everything.
		for (long k = 0; k < nreg; k++) {
			struct region *g = &regs[k];
			for (long i = 0; i < g->pages; i++) {
				if (k == 0 && i == inprog) continue;
				if (!check((uint64_t *)(g->base + i * PG), g->id * 1000000 + i, g->ver[i])) {
					printf("FAIL: round %ld: region %ld page %ld is not version %ld\n", r, g->id, i, g->ver[i]);
					return 1;
				}
			}
		}
		// Rewrite a slice of the big region: by the CPU, every 4th page by
		// the kernel (read from a pipe).
		for (long n = 0; n < slice; n++, cursor = (cursor + 1) % pages) {
			long pg = cursor;
			if (scatter)
				pg = n < slice / 2 ? (n * 3) % pages : (7 + (n - slice / 2) * 23) % pages; // the same pages every round
			long v = regs[0].ver[pg] + 1;
			inprog = pg;
			__asm__ volatile("" ::: "memory");
			if (n % 4 == 0) {
				fill(tmp, pg, v);
				if (write(pfd[1], tmp, PG) != PG || read(pfd[0], regs[0].base + pg * PG, PG) != PG) { perror("pipe"); return 2; }
			} else {
				fill((uint64_t *)(regs[0].base + pg * PG), pg, v);
			}
			regs[0].ver[pg] = v;
			__asm__ volatile("" ::: "memory");
			inprog = -1;
		}
		// A few pages dropped (zero from now on).
		long d = (cursor * 7 + r * 13) % pages;
		inprog = d;
		__asm__ volatile("" ::: "memory");
		regs[0].ver[d] = -1;
		madvise(regs[0].base + d * PG, PG, MADV_DONTNEED);
		__asm__ volatile("" ::: "memory");
		inprog = -1;
		if (churn) {
			// Replace the oldest small region by a new one.
			struct region *g = &regs[1 + r % (NREG - 1)];
			long *old = g->ver;
			char *ob = g->base;
			long op = g->pages;
			newregion(g, 32 + r % 64, nextid++);
			munmap(ob, op * PG);
			free(old);
		}
		fprintf(stderr, "incr: round %ld\n", r);
		int now = trigger && access(trigger, F_OK) == 0;
		if (now && child < 0 && !strcmp(mode, "fork")) {
			child = fork();
			if (child < 0) { perror("fork"); return 2; }
			if (child == 0) { // a pipe of its own: the shared one would mix their pages
				close(pfd[0]);
				close(pfd[1]);
				if (pipe(pfd)) { perror("pipe"); return 2; }
			}
			fprintf(stderr, "incr: forked %d\n", child ? 0 : getpid());
		}
		if (now && !strcmp(mode, "exec")) {
			char left[32];
			snprintf(left, sizeof left, "%ld", rounds - r - 1);
			fprintf(stderr, "incr: exec\n");
			execl("/proc/self/exe", argv[0], left, argv[2], "execd", (char *)0);
			perror("exec");
			return 2;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, 0);
	}
	if (child == 0) {
		printf("PASS child\n");
		return 0;
	}
	if (child > 0) {
		int st;
		fflush(stdout);
		if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("FAIL: child status %d\n", st);
			return 1;
		}
	}
	printf("PASS\n");
	return 0;
}
