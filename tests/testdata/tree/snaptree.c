// snaptree: snapwrite for a tree of processes. Five processes (the main one
// and four children it forks) rewrite their memory as fast as they can while
// a keep-running checkpoint saves them, each memory taking another path of
// the dump: 8 MiB private (a copy-on-write snapshot read after the thaw),
// 1 MiB and 2 MiB private (read in the pause: below the snapshot's minimum),
// 4.3 MiB touched one page in 64 of a 275 MiB map (sparse: read in the
// pause, vectored), and a slice each of a MAP_SHARED region they all map
// (read in the pause, from the first process that maps it). After every
// pass a child sends "index pass" through a pipe to the main process, which
// checks that each child's passes come in order, one after the other.
//
//	snaptree [PASSES]
//
// One pass writes the pass number into the first and last word of every
// page of the process's regions, after checking the page holds the previous
// pass's number; so a restored image holding any page, or the pipe's
// buffered records, as they were later or earlier than the freeze (of that
// process or of another) fails. Passes sleep 1 ms each; PASSES default 1500.
//
// stdout (main process only): "passes=N" then "PASS", or "FAIL: <what>".
// stderr: "snaptree: pid=N", "snaptree: running", "snaptree: end pid=N".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define WPP (PAGE / 8)
#define NPROC 5
#define SHARED_PAGES 64 // per process

struct region {
	const char *name;
	uint64_t *p;
	size_t pages;
	size_t stride; // in pages
};

static int idx;

static int check(struct region *r, uint64_t want, uint64_t set) {
	for (size_t i = 0; i < r->pages; i++) {
		uint64_t *pg = r->p + i * r->stride * WPP;
		if (pg[0] != want || pg[WPP - 1] != want) {
			printf("FAIL: process %d: %s page %zu holds %llu/%llu, want %llu\n", idx, r->name, i,
			       (unsigned long long)pg[0], (unsigned long long)pg[WPP - 1], (unsigned long long)want);
			return 0;
		}
		if (set != want) pg[0] = pg[WPP - 1] = set;
	}
	return 1;
}

static uint64_t *map(size_t bytes, int flags) {
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		printf("FAIL: mmap %zu bytes\n", bytes);
		exit(1);
	}
	return p;
}

// The private region of process i: its size and stride.
static struct region private_region(int i) {
	static const size_t pages[NPROC] = {2048, 256, 1100, 512, 2048};
	static const size_t stride[NPROC] = {1, 1, 64, 1, 1};
	struct region r = {"private", NULL, pages[i], stride[i]};
	r.p = map(r.pages * r.stride * PAGE, MAP_PRIVATE);
	return r;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	long passes = argc > 1 ? atol(argv[1]) : 1500;
	uint64_t *shared = map(NPROC * SHARED_PAGES * PAGE, MAP_SHARED);
	int fds[2];
	if (pipe(fds) != 0) {
		printf("FAIL: pipe\n");
		return 1;
	}
	pid_t kids[NPROC];
	for (idx = 1; idx < NPROC; idx++) {
		kids[idx] = fork();
		if (kids[idx] < 0) {
			printf("FAIL: fork\n");
			return 1;
		}
		if (kids[idx] == 0) break;
	}
	if (idx == NPROC) idx = 0;
	struct region rs[2] = {private_region(idx), {"shared", shared + idx * SHARED_PAGES * WPP, SHARED_PAGES, 1}};
	if (idx == 0) {
		close(fds[1]);
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		fprintf(stderr, "snaptree: pid=%d\nsnaptree: running\n", (int)getpid());
	} else {
		close(fds[0]);
	}
	uint64_t seen[NPROC] = {0}; // main: the last pass each child reported
	char buf[4096];
	size_t have = 0;
	struct timespec ms = {0, 1000000};
	for (uint64_t pass = 0; pass <= (uint64_t)passes; pass++) {
		uint64_t set = pass < (uint64_t)passes ? pass + 1 : pass;
		for (int k = 0; k < 2; k++)
			if (!check(&rs[k], pass, set)) return 1;
		if (idx != 0 && pass < (uint64_t)passes) {
			char rec[32];
			int n = snprintf(rec, sizeof rec, "%d %llu\n", idx, (unsigned long long)set);
			if (write(fds[1], rec, n) != n) return 1; // < PIPE_BUF: whole
		} else if (idx == 0) {
			for (;;) {
				ssize_t n = read(fds[0], buf + have, sizeof buf - have);
				if (n <= 0) break;
				have += n;
				char *line = buf, *nl;
				while ((nl = memchr(line, '\n', buf + have - line)) != NULL) {
					int who;
					unsigned long long p;
					if (sscanf(line, "%d %llu", &who, &p) != 2 || who < 1 || who >= NPROC || p != seen[who] + 1) {
						printf("FAIL: record %.*s after pass %llu of that child\n", (int)(nl - line), line,
						       who >= 1 && who < NPROC ? (unsigned long long)seen[who] : 0ULL);
						return 1;
					}
					seen[who] = p;
					line = nl + 1;
				}
				have = buf + have - line;
				memmove(buf, line, have);
			}
		}
		nanosleep(&ms, NULL);
	}
	if (idx != 0) return 0;
	int ok = 1;
	for (int i = 1; i < NPROC; i++) {
		int st;
		if (waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			printf("FAIL: child %d ended with status %#x\n", i, st);
			ok = 0;
		}
	}
	for (;;) { // the records of the children's last passes
		ssize_t n = read(fds[0], buf + have, sizeof buf - have);
		if (n < 0 && errno == EAGAIN) continue;
		if (n <= 0) break;
		have += n;
		char *line = buf, *nl;
		while ((nl = memchr(line, '\n', buf + have - line)) != NULL) {
			int who;
			unsigned long long p;
			if (sscanf(line, "%d %llu", &who, &p) == 2 && who >= 1 && who < NPROC && p == seen[who] + 1) seen[who] = p;
			line = nl + 1;
		}
		have = buf + have - line;
		memmove(buf, line, have);
	}
	for (int i = 1; i < NPROC; i++)
		if (seen[i] != (uint64_t)passes) {
			printf("FAIL: child %d's last record is pass %llu, want %ld\n", i, (unsigned long long)seen[i], passes);
			ok = 0;
		}
	if (!ok) return 1;
	fprintf(stderr, "snaptree: end pid=%d\n", (int)getpid());
	printf("passes=%ld\nPASS\n", passes);
	return 0;
}
