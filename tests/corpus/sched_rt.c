// corpus: real-time scheduling: a SCHED_RR thread with its priority and nice, a SCHED_FIFO main thread
// expect: exact
// needs: root
#include "corpus.h"
#include <errno.h>
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

static char why[256];
static const char *check(const char *who, int policy, int prio, int nice) {
	struct attr a; memset(&a, 0, sizeof a);
	if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0)) return "sched_getattr";
	/* sched_getattr shows nice 0 for real-time threads: getpriority tells */
	errno = 0;
	int n = getpriority(PRIO_PROCESS, syscall(SYS_gettid));
	if ((int)a.policy != policy || (int)a.prio != prio || n != nice || errno) {
		snprintf(why, sizeof why, "%s: policy %u prio %u nice %d, want %d %d %d", who, a.policy, a.prio, n, policy, prio, nice);
		return why;
	}
	return "";
}

static volatile int stop;
static const char *result = "not run";
static void *thread(void *arg) {
	(void)arg;
	if (setpriority(PRIO_PROCESS, syscall(SYS_gettid), -3)) { result = "setpriority"; return NULL; }
	struct sched_param p = {.sched_priority = 7};
	if (sched_setscheduler(0, SCHED_RR, &p)) { result = "SCHED_RR"; return NULL; }
	while (!stop) sleep_ms(10);
	result = check("rr thread", SCHED_RR, 7, -3);
	return NULL;
}

int main(void) {
	pthread_t th;
	pthread_create(&th, NULL, thread, NULL);
	struct sched_param p = {.sched_priority = 3};
	if (sched_setscheduler(0, SCHED_FIFO, &p)) bail("SCHED_FIFO");
	running("sched_rt");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	stop = 1;
	pthread_join(th, NULL);
	if (*result) bail(result);
	const char *w = check("main", SCHED_FIFO, 3, 0);
	if (*w) bail(w);
	printf("PASS\n");
	return 0;
}
