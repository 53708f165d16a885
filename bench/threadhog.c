// bench/threadhog.c — the many-threads app of the checkpoint/restore benchmark
// (bench/crbench, cases threads-N).
//
// Starts THREADS pthreads besides the main thread. Every worker fills
// STACK_KiB of data on its own stack with a pattern derived from its id, then
// loops: it blocks for INTERVAL_MS (the way depends on its id: a condition
// variable with a timeout, nanosleep, poll, or an absolute clock_nanosleep, so
// that a checkpoint catches threads in each kind of interrupted call), wakes,
// and does one unit of work: overwrites the next word of its stack data with a
// value derived from (id, counter) and increments its counter, which it also
// publishes in a global array. The content of the stack data is thus a pure
// function of (id, counter): verification recomputes it word by word.
//
// On SIGUSR2 the main thread asks every worker to verify itself (and wakes the
// ones waiting on the condition variable); each worker checks, at its next
// wake-up, that
//   - its thread id is the one it had at start (crrun restores TIDs),
//   - its local counter (on its stack) equals the published one,
//   - every word of its stack data equals what (id, counter) says,
// and acknowledges. The main thread waits for every acknowledgement (a thread
// that does not answer within 10 s is reported dead), counts
// /proc/self/task, and prints VERIFY PASS or VERIFY FAIL. The app keeps
// running afterwards: it can be verified again, checkpointed again, or ended.
//
//   threadhog [-t THREADS] [-k STACK_KiB] [-i INTERVAL_MS] [-p PROGRESS_MS] [-c]
//     -t  worker threads (default 1000); the process has THREADS+1 threads
//     -k  KiB of stack data per worker (default 64)
//     -i  how long a worker blocks between units of work (default 50 ms)
//     -p  the main thread prints "P <seq> <sum of the workers' counters>" every
//         PROGRESS_MS ms (default 5)
//     -c  corrupt one word of worker 0's stack data before verifying (tests
//         that FAIL is reported)
//
// Output (stdout, one write(2) per line):
//   THREADHOG ready pid=P threads=N tasks=T stack_kib=K create_ms=F
//   P <seq> <sum of counters>
//   VERIFY PASS threads=N tasks=T counters=C ms=M
//   VERIFY FAIL <count> problem(s): <the first few>
// A failure before "ready" exits 2.

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hog.h"

#define MAXT 4096

struct slot {
	_Atomic uint64_t counter; // published after every unit of work
	_Atomic uint64_t acked;   // last verification generation answered
	_Atomic int tid;
	char fail[120];
} __attribute__((aligned(64)));

static struct slot S[MAXT];
static int nthreads = 1000, interval_ms = 50, corrupt;
static size_t nwords = 64 * 1024 / 8;
static _Atomic int nready;
static _Atomic uint64_t verify_gen;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static volatile sig_atomic_t verify_sig;

static uint64_t mix(uint64_t z) { // splitmix64's finalizer
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

// The initial value of word k of worker id, and the value unit of work j
// writes (into word j % nwords).
static uint64_t initial(int id, size_t k) { return mix(((uint64_t)id << 40) ^ k ^ 0x5EED0000000000ULL); }
static uint64_t written(int id, uint64_t j) { return mix(((uint64_t)id << 40) ^ (j * 0x9E3779B97F4A7C15ULL) ^ 1); }

// expect is what word k must hold after cnt units of work.
static uint64_t expect(int id, size_t k, uint64_t cnt) {
	if (cnt <= k) return initial(id, k);
	uint64_t j = k + (cnt - 1 - k) / nwords * nwords; // the last unit that wrote word k
	return written(id, j);
}

static void add_ms(struct timespec *t, long ms) {
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

// block waits about interval_ms, in the way of the worker's kind.
static void block(int id, struct timespec *deadline) {
	switch (id % 4) {
	case 0: { // a condition variable with a timeout (futex wait with an absolute time)
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		add_ms(&t, interval_ms);
		pthread_mutex_lock(&mu);
		pthread_cond_timedwait(&cv, &mu, &t);
		pthread_mutex_unlock(&mu);
		break;
	}
	case 1: { // nanosleep (restarted with the remaining time)
		struct timespec t = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
		while (nanosleep(&t, &t) < 0 && errno == EINTR) {}
		break;
	}
	case 2: // poll with a timeout (restart_syscall)
		poll(NULL, 0, interval_ms);
		break;
	default: // clock_nanosleep to an absolute deadline
		add_ms(deadline, interval_ms);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL) == EINTR) {}
		break;
	}
}

static void *worker(void *arg) {
	int id = (int)(intptr_t)arg;
	struct slot *s = &S[id];
	uint64_t data[nwords]; // the stack data
	const pid_t tid = (pid_t)syscall(SYS_gettid);
	uint64_t cnt = 0, seen = 0;
	int corrupted = 0;
	for (size_t k = 0; k < nwords; k++) data[k] = initial(id, k);
	atomic_store(&s->tid, tid);
	atomic_fetch_add(&nready, 1);
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	for (;;) {
		block(id, &deadline);
		uint64_t g = atomic_load_explicit(&verify_gen, memory_order_acquire);
		if (g != seen) {
			seen = g;
			if (corrupt && id == 0 && !corrupted) { // once: the restored app keeps the flipped bit
				data[nwords / 2] ^= 1;
				corrupted = 1;
			}
			pid_t now = (pid_t)syscall(SYS_gettid);
			uint64_t pub = atomic_load(&s->counter);
			s->fail[0] = 0;
			if (now != tid) {
				snprintf(s->fail, sizeof s->fail, "thread %d: tid %d, was %d", id, now, tid);
			} else if (pub != cnt) {
				snprintf(s->fail, sizeof s->fail, "thread %d: counter %" PRIu64 " on its stack, %" PRIu64 " published",
				         id, cnt, pub);
			} else {
				for (size_t k = 0; k < nwords; k++) {
					if (data[k] != expect(id, k, cnt)) {
						snprintf(s->fail, sizeof s->fail,
						         "thread %d: stack word %zu is %016" PRIx64 ", want %016" PRIx64 " (counter %" PRIu64 ")",
						         id, k, data[k], expect(id, k, cnt), cnt);
						break;
					}
				}
			}
			atomic_store_explicit(&s->acked, g, memory_order_release);
		}
		// one unit of work
		data[cnt % nwords] = written(id, cnt);
		cnt++;
		atomic_store_explicit(&s->counter, cnt, memory_order_relaxed);
	}
	return NULL;
}

static int count_tasks(void) {
	DIR *d = opendir("/proc/self/task");
	if (!d) return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.') n++;
	closedir(d);
	return n;
}

static void on_usr2(int sig) {
	(void)sig;
	verify_sig = 1;
}

static void verify(void) {
	double v0 = now_ms();
	uint64_t g = atomic_load(&verify_gen) + 1;
	atomic_store_explicit(&verify_gen, g, memory_order_release);
	pthread_mutex_lock(&mu);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	double limit = v0 + 10000 + 4.0 * interval_ms;
	int missing;
	for (;;) {
		missing = 0;
		for (int t = 0; t < nthreads; t++)
			if (atomic_load_explicit(&S[t].acked, memory_order_acquire) != g) missing++;
		if (missing == 0 || now_ms() > limit) break;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	int tasks = count_tasks();
	char msg[900] = "";
	size_t len = 0;
	int bad = 0;
	uint64_t sum = 0;
#define ADD(...)                                                                                 \
	do {                                                                                         \
		if (bad++ < 4 && len < sizeof msg - 2) {                                                 \
			if (len) len += snprintf(msg + len, sizeof msg - len, "; ");                          \
			if (len < sizeof msg) len += snprintf(msg + len, sizeof msg - len, __VA_ARGS__);      \
		}                                                                                        \
	} while (0)
	if (tasks != nthreads + 1) ADD("/proc/self/task has %d threads, want %d", tasks, nthreads + 1);
	for (int t = 0; t < nthreads; t++) {
		sum += atomic_load(&S[t].counter);
		if (atomic_load(&S[t].acked) != g)
			ADD("thread %d (tid %d) did not answer within %.0f s", t, atomic_load(&S[t].tid), (limit - v0) / 1000);
		else if (S[t].fail[0])
			ADD("%s", S[t].fail);
	}
#undef ADD
	if (bad)
		say("VERIFY FAIL %d problem(s): %s\n", bad, msg);
	else
		say("VERIFY PASS threads=%d tasks=%d counters=%" PRIu64 " ms=%.0f\n", nthreads, tasks, sum, now_ms() - v0);
}

static void usage(void) {
	fprintf(stderr, "usage: threadhog [-t THREADS] [-k STACK_KiB] [-i INTERVAL_MS] [-p PROGRESS_MS] [-c]\n");
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
	long progress_ms = 5, kib = 64;
	int c;
	while ((c = getopt(argc, argv, "t:k:i:p:c")) != -1) {
		switch (c) {
		case 't': nthreads = (int)num(optarg); break;
		case 'k': kib = num(optarg); break;
		case 'i': interval_ms = (int)num(optarg); break;
		case 'p': progress_ms = num(optarg); break;
		case 'c': corrupt = 1; break;
		default: usage();
		}
	}
	if (optind != argc || nthreads > MAXT || kib > 4096) usage();
	nwords = (size_t)kib * 1024 / 8;
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_usr2};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &ca);

	// Workers must not take SIGUSR2: the main thread handles it.
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	size_t stack;
	pthread_attr_getstacksize(&attr, &stack);
	if (stack < nwords * 8 + (256 << 10)) pthread_attr_setstacksize(&attr, nwords * 8 + (256 << 10));
	double t0 = now_ms();
	for (int t = 0; t < nthreads; t++) {
		pthread_t th;
		int e = pthread_create(&th, &attr, worker, (void *)(intptr_t)t);
		if (e) {
			fprintf(stderr, "threadhog: pthread_create %d: %s\n", t, strerror(e));
			return 2;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	while (atomic_load(&nready) < nthreads) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	pthread_attr_getstacksize(&attr, &stack);
	say("THREADHOG ready pid=%d threads=%d tasks=%d stack_kib=%ld stack_size=%zu create_ms=%.0f\n", getpid(), nthreads,
	    count_tasks(), kib, stack, now_ms() - t0);

	uint64_t seq = 0;
	for (;;) {
		if (verify_sig) {
			verify_sig = 0;
			verify();
		}
		uint64_t sum = 0;
		for (int t = 0; t < nthreads; t++) sum += atomic_load_explicit(&S[t].counter, memory_order_relaxed);
		say("P %" PRIu64 " %" PRIu64 "\n", ++seq, sum);
		struct timespec ts = {progress_ms / 1000, (progress_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL); // SIGUSR2 cuts it short
	}
}
