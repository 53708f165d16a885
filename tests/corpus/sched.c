// corpus: scheduling per thread: nice, SCHED_BATCH with reset-on-fork, SCHED_IDLE, CPU affinity, timer slack
// expect: exact
#include "corpus.h"
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }

struct attr { uint32_t size, policy; uint64_t flags; int32_t nice; uint32_t prio; uint64_t rt, dl, per; uint32_t umin, umax; };
#define RESET_ON_FORK 1

static int ncpu;
static int cpu_of(int i) { return i % ncpu; }

static char why[256];
static const char *check(const char *who, int policy, uint64_t flags, int nice, int cpu, unsigned long slack) {
	struct attr a; memset(&a, 0, sizeof a);
	if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0)) { snprintf(why, sizeof why, "%s: sched_getattr", who); return why; }
	if ((int)a.policy != policy || a.flags != flags || a.nice != nice) {
		snprintf(why, sizeof why, "%s: policy %u flags %#lx nice %d, want %d %#lx %d", who, a.policy, (unsigned long)a.flags, a.nice, policy, (unsigned long)flags, nice);
		return why;
	}
	cpu_set_t s; CPU_ZERO(&s);
	if (sched_getaffinity(0, sizeof s, &s) || CPU_COUNT(&s) != 1 || !CPU_ISSET(cpu, &s)) {
		snprintf(why, sizeof why, "%s: affinity has %d CPUs, want only %d", who, CPU_COUNT(&s), cpu); return why;
	}
	long sl = prctl(PR_GET_TIMERSLACK);
	if ((unsigned long)sl != slack) { snprintf(why, sizeof why, "%s: timer slack %ld, want %lu", who, sl, slack); return why; }
	return "";
}

static void setup(int policy, uint64_t flags, int nice, int cpu, unsigned long slack) {
	/* SCHED_IDLE ignores sched_nice: the nice value comes first */
	if (setpriority(PRIO_PROCESS, syscall(SYS_gettid), nice)) bail("setpriority");
	struct attr a; memset(&a, 0, sizeof a);
	a.size = sizeof a; a.policy = policy; a.flags = flags; a.nice = nice;
	if (syscall(SYS_sched_setattr, 0, &a, 0)) bail("sched_setattr");
	cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof s, &s)) bail("sched_setaffinity");
	if (prctl(PR_SET_TIMERSLACK, slack)) bail("PR_SET_TIMERSLACK");
}

static volatile int stop;
struct spec { int policy; uint64_t flags; int nice, cpu; unsigned long slack; const char *name, *result; };
static void *thread(void *arg) {
	struct spec *sp = arg;
	setup(sp->policy, sp->flags, sp->nice, sp->cpu, sp->slack);
	while (!stop) sleep_ms(10);
	sp->result = check(sp->name, sp->policy, sp->flags, sp->nice, sp->cpu, sp->slack);
	return NULL;
}

int main(void) {
	cpu_set_t all; CPU_ZERO(&all);
	sched_getaffinity(0, sizeof all, &all);
	ncpu = 0;
	for (int i = 0; i < CPU_SETSIZE; i++) if (CPU_ISSET(i, &all)) ncpu = i + 1;
	struct spec specs[2] = {
		{SCHED_BATCH, RESET_ON_FORK, 10, cpu_of(1), 777000, "batch thread", "not run"},
		{SCHED_IDLE, 0, 3, cpu_of(0), 50000, "idle thread", "not run"},
	};
	pthread_t th[2];
	for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thread, &specs[i]);
	setup(SCHED_OTHER, 0, 5, cpu_of(0), 123456);
	running("sched");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	stop = 1;
	for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
	const char *w = check("main", SCHED_OTHER, 0, 5, cpu_of(0), 123456);
	if (*w) bail(w);
	for (int i = 0; i < 2; i++) if (*specs[i].result) bail(specs[i].result);
	printf("PASS\n");
	return 0;
}
