// bench/treehog.c — the process-tree app of the checkpoint/restore benchmark
// (bench/crbench, cases tree-N).
//
// The main process (index 0) forks PROCS-1 children (indexes 1..PROCS-1) at
// once, so that the app is PROCS processes. Each process then maps MiB of
// private anonymous memory, fills it with a pattern derived from its index,
// and loops: a burst of 256 rewrites of random words, keeping a checksum of
// its memory up to date (as memhog does: the XOR over the words of
// mix(index, value), updated incrementally), then a short sleep. Nothing is
// shared between the processes but stdout: no pipe, no shared memory.
//
// On SIGUSR2 (crrun forwards it to the main process) the main process sends
// SIGUSR2 to every child, and each process checks its memory against its
// checksum, that its pid is the one it had at start, and (children) that its
// parent is still the main process, and prints its own VERIFY line. The
// processes keep running afterwards. On SIGTERM the main process sends
// SIGTERM to every child and dies of it.
//
//   treehog [-n PROCS] [-m MiB] [-p PROGRESS_MS] [-s SLEEP_US] [-c]
//     -n  processes, the main one included (default 16)
//     -m  MiB of memory per process (default 256)
//     -p  every process prints "P <index> <seq> <bursts>" every PROGRESS_MS
//         (default 5)
//     -s  sleep between bursts (default 1000 µs)
//     -c  process PROCS-1 corrupts a word before verifying (tests FAIL)
//
// Output (stdout, one write(2) per line; lines of different processes
// interleave, each line whole):
//   READY <index> pid=P ppid=Q len=N fill_ms=F         once per process
//   P <index> <seq> <bursts>
//   VERIFY <index> PASS pid=P words=N ms=M  |  VERIFY <index> FAIL <what>
// A failure before READY exits 2 (a child's failure is seen as a missing
// READY line).

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "hog.h"

#define MAXP 256

static int nprocs = 16, idx, corrupt;
static pid_t kids[MAXP], mypid, rootpid;
static uint64_t *mem;
static size_t nwords;
static volatile sig_atomic_t verify_sig;

static uint64_t mix(uint64_t i, uint64_t v) {
	uint64_t z = v ^ (i * 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static void on_usr2(int sig) {
	(void)sig;
	verify_sig = 1;
}

static void on_term(int sig) {
	for (int i = 1; i < nprocs; i++)
		if (kids[i] > 0) kill(kids[i], SIGTERM);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void verify(uint64_t chk) {
	double v0 = now_ms();
	static int corrupted;
	if (corrupt && idx == nprocs - 1 && !corrupted) { // once: the restored app keeps the flipped bit
		mem[nwords / 3] ^= 1;
		corrupted = 1;
	}
	uint64_t c = 0;
	for (size_t i = 0; i < nwords; i++) c ^= mix(i, mem[i]);
	pid_t pid = getpid(), ppid = getppid();
	if (c != chk)
		say("VERIFY %d FAIL checksum %016" PRIx64 " != expected %016" PRIx64 "\n", idx, c, chk);
	else if (pid != mypid)
		say("VERIFY %d FAIL pid %d, was %d\n", idx, pid, mypid);
	else if (idx > 0 && ppid != rootpid)
		say("VERIFY %d FAIL parent %d, want the main process %d\n", idx, ppid, rootpid);
	else
		say("VERIFY %d PASS pid=%d words=%zu ms=%.0f\n", idx, pid, nwords, now_ms() - v0);
}

static void usage(void) {
	fprintf(stderr, "usage: treehog [-n PROCS] [-m MiB] [-p PROGRESS_MS] [-s SLEEP_US] [-c]\n");
	exit(2);
}

static long num(const char *s) {
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v <= 0) usage();
	return v;
}

int main(int argc, char **argv) {
	long mib = 256, progress_ms = 5, sleep_us = 1000;
	int c;
	while ((c = getopt(argc, argv, "n:m:p:s:c")) != -1) {
		switch (c) {
		case 'n': nprocs = (int)num(optarg); break;
		case 'm': mib = num(optarg); break;
		case 'p': progress_ms = num(optarg); break;
		case 's': sleep_us = num(optarg); break;
		case 'c': corrupt = 1; break;
		default: usage();
		}
	}
	if (optind != argc || nprocs > MAXP) usage();
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_usr2};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);

	rootpid = getpid();
	// SIGTERM stays blocked while forking: the handler must see every child.
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	for (int i = 1; i < nprocs; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("treehog: fork");
			for (int j = 1; j < i; j++) kill(kids[j], SIGKILL);
			return 2;
		}
		if (p == 0) {
			idx = i;
			memset(kids, 0, sizeof kids);
			break;
		}
		kids[i] = p;
	}
	if (idx == 0) {
		struct sigaction st = {.sa_handler = on_term};
		sigemptyset(&st.sa_mask);
		sigaction(SIGTERM, &st, NULL);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	mypid = getpid();

	size_t len = (size_t)mib << 20;
	nwords = len / 8;
	double t0 = now_ms();
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("treehog: mmap");
		if (idx == 0) on_term(SIGTERM);
		return 2;
	}
	uint64_t rng = 0x853C49E6748FEA9BULL ^ ((uint64_t)(idx + 1) * 0xD1B54A32D192ED03ULL), chk = 0;
	for (size_t i = 0; i < nwords; i++) {
		uint64_t v = mix(~(uint64_t)idx, i); // the deterministic pattern
		mem[i] = v;
		chk ^= mix(i, v);
	}
	say("READY %d pid=%d ppid=%d len=%zu fill_ms=%.0f\n", idx, mypid, getppid(), len, now_ms() - t0);

	uint64_t seq = 0, bursts = 0;
	double next_progress = now_ms();
	struct timespec nap = {sleep_us / 1000000, (sleep_us % 1000000) * 1000};
	for (;;) {
		if (verify_sig) {
			verify_sig = 0;
			if (idx == 0)
				for (int i = 1; i < nprocs; i++) kill(kids[i], SIGUSR2);
			verify(chk);
		}
		for (int j = 0; j < 256; j++) {
			size_t i = next(&rng) % nwords;
			uint64_t old = mem[i], v = next(&rng);
			mem[i] = v;
			chk ^= mix(i, old) ^ mix(i, v);
		}
		bursts++;
		double t = now_ms();
		if (t >= next_progress) {
			say("P %d %" PRIu64 " %" PRIu64 "\n", idx, ++seq, bursts);
			next_progress = t + progress_ms;
		}
		nanosleep(&nap, NULL);
	}
}
