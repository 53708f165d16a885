/*
 * syscallbench: micro-benchmarks for the run-time overhead of crrun.
 *
 * Usage: syscallbench MODE [TARGET_MS]
 *
 * Modes:
 *   getppid   syscall(SYS_getppid) loop                     (1 syscall/op)
 *   rw        write 1 byte to a pipe, read it back          (2 syscalls/op)
 *   forkexec  fork, exec /bin/true, waitpid                 (process op)
 *   thread    pthread_create + pthread_join                 (thread op)
 *   trapped   syscall(SYS_personality, PER_LINUX) loop      (1 syscall/op);
 *             under crrun this syscall is in the NOCR table, so every call is
 *             a seccomp user notification answered with CONTINUE.
 *
 * The loop is time-based, not count-based: a syscall that costs 40 ns natively
 * costs ~10 us when trapped, and a fixed count would make one of them far too
 * short or far too long. After a short warm-up (which also sizes a batch to
 * ~1 ms, so the clock is read rarely), batches run until TARGET_MS (default
 * 300) has elapsed. clock_gettime(CLOCK_MONOTONIC) goes through the vDSO, so
 * timing adds no syscall of its own.
 *
 * Output, one machine-readable line on stdout:
 *   BENCH mode=getppid ops=N elapsed_ns=T ns_per_op=X syscalls_per_op=S errors=E
 * Exit status: 0 ok, 1 an operation failed (errors > 0), 2 usage/setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Each op function runs n operations and returns how many of them failed. */
typedef long (*op_fn)(long n);

static long op_getppid(long n)
{
	long err = 0;
	for (long i = 0; i < n; i++)
		if (syscall(SYS_getppid) < 0)
			err++;
	return err;
}

static int pipefd[2] = {-1, -1};

static long op_rw(long n)
{
	long err = 0;
	char c = 'x';
	for (long i = 0; i < n; i++) {
		if (write(pipefd[1], &c, 1) != 1)
			err++;
		if (read(pipefd[0], &c, 1) != 1)
			err++;
	}
	return err;
}

static long op_forkexec(long n)
{
	long err = 0;
	char *const argv[] = {"/bin/true", NULL};
	for (long i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0) {
			err++;
			continue;
		}
		if (p == 0) {
			execve(argv[0], argv, environ);
			_exit(127);
		}
		int st;
		pid_t w;
		do
			w = waitpid(p, &st, 0);
		while (w < 0 && errno == EINTR);
		if (w != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			err++;
	}
	return err;
}

static void *thread_fn(void *arg)
{
	return arg;
}

static long op_thread(long n)
{
	long err = 0;
	for (long i = 0; i < n; i++) {
		pthread_t t;
		void *ret;
		if (pthread_create(&t, NULL, thread_fn, NULL) != 0) {
			err++;
			continue;
		}
		if (pthread_join(t, &ret) != 0)
			err++;
	}
	return err;
}

static long op_trapped(long n)
{
	long err = 0;
	for (long i = 0; i < n; i++)
		if (syscall(SYS_personality, PER_LINUX) < 0)
			err++;
	return err;
}

struct mode {
	const char *name;
	op_fn fn;
	int syscalls_per_op; /* 0: not a single-syscall loop */
};

static const struct mode modes[] = {
	{"getppid", op_getppid, 1},
	{"rw", op_rw, 2},
	{"forkexec", op_forkexec, 0},
	{"thread", op_thread, 0},
	{"trapped", op_trapped, 1},
};

static void usage(void)
{
	fprintf(stderr, "usage: syscallbench MODE [TARGET_MS]\nmodes:");
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		fprintf(stderr, " %s", modes[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3)
		usage();
	const struct mode *m = NULL;
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (strcmp(argv[1], modes[i].name) == 0)
			m = &modes[i];
	if (!m)
		usage();
	long target_ms = 300;
	if (argc == 3) {
		char *end;
		target_ms = strtol(argv[2], &end, 10);
		if (*end || target_ms <= 0 || target_ms > 600000)
			usage();
	}
	if (m->fn == op_rw && pipe2(pipefd, O_CLOEXEC) != 0) {
		perror("pipe2");
		return 2;
	}

	const uint64_t target = (uint64_t)target_ms * 1000000ull;
	const uint64_t batch_goal = 1000000ull; /* ~1 ms per batch */
	long errors = 0;

	/* Warm-up: ~10% of the target (at least 20 ms), doubling the batch
	 * until one batch takes ~1 ms. Caches, page tables, the kernel's seccomp
	 * action cache and the supervisor's notification path all get warm. */
	uint64_t warm = target / 10 < 20000000ull ? 20000000ull : target / 10;
	long batch = 1;
	uint64_t t0 = now_ns(), t = t0;
	while (t - t0 < warm) {
		uint64_t b0 = t;
		errors += m->fn(batch);
		t = now_ns();
		if (t - b0 < batch_goal && batch < (1L << 24))
			batch *= 2;
	}
	if (errors) {
		fprintf(stderr, "syscallbench: %s: %ld failed operations during warm-up\n",
			m->name, errors);
		errors = 0;
		/* keep going: the measured phase reports its own errors */
	}

	uint64_t ops = 0;
	uint64_t start = now_ns();
	do {
		errors += m->fn(batch);
		ops += (uint64_t)batch;
		t = now_ns();
	} while (t - start < target);
	uint64_t elapsed = t - start;

	printf("BENCH mode=%s ops=%llu elapsed_ns=%llu ns_per_op=%.1f syscalls_per_op=%d errors=%ld\n",
	       m->name, (unsigned long long)ops, (unsigned long long)elapsed,
	       (double)elapsed / (double)ops, m->syscalls_per_op, errors);
	fflush(stdout);
	if (errors)
		fprintf(stderr, "syscallbench: %s: %ld of %llu operations failed\n",
			m->name, errors, (unsigned long long)ops);
	return errors ? 1 : 0;
}
