// corpus: credentials: real/effective/saved/fs uids and gids (per thread), supplementary groups, bounding set
// expect: exact
// needs: root
#include "corpus.h"
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }

static char why[256];

/* check verifies this thread's credentials through the kernel; "" if right. */
static const char *check(const char *who, int want_fsuid, int want_fsgid) {
	uid_t r, e, s; gid_t gr, ge, gs;
	if (getresuid(&r, &e, &s) || r != 1000 || e != 1001 || s != 1002) {
		snprintf(why, sizeof why, "%s: uids %d/%d/%d, want 1000/1001/1002", who, r, e, s); return why;
	}
	if (getresgid(&gr, &ge, &gs) || gr != 2000 || ge != 2001 || gs != 2002) {
		snprintf(why, sizeof why, "%s: gids %d/%d/%d, want 2000/2001/2002", who, gr, ge, gs); return why;
	}
	int fsu = setfsuid(-1), fsg = setfsgid(-1);
	if (fsu != want_fsuid || fsg != want_fsgid) {
		snprintf(why, sizeof why, "%s: fsuid %d fsgid %d, want %d %d", who, fsu, fsg, want_fsuid, want_fsgid); return why;
	}
	gid_t g[16]; int n = getgroups(16, g);
	if (n != 3 || g[0] != 4 || g[1] != 24 || g[2] != 27) { snprintf(why, sizeof why, "%s: %d groups, want 4 24 27", who, n); return why; }
	if (prctl(PR_CAPBSET_READ, 22 /* CAP_SYS_BOOT */) != 0 || prctl(PR_CAPBSET_READ, 13 /* CAP_NET_RAW */) != 0 ||
	    prctl(PR_CAPBSET_READ, 0 /* CAP_CHOWN */) != 1) {
		snprintf(why, sizeof why, "%s: bounding set wrong", who); return why;
	}
	return "";
}

static volatile int stop;
static const char *thread_result = "not run";
static void *thread(void *arg) {
	(void)arg;
	while (!stop) sleep_ms(10);
	/* glibc's setfsuid/setfsgid change the calling thread only: this one
	   kept the fs ids setresuid/setresgid gave it (the effective ones) */
	thread_result = check("thread", 1001, 2001);
	return NULL;
}

int main(void) {
	gid_t groups[] = {4, 24, 27};
	if (prctl(PR_CAPBSET_DROP, 22) || prctl(PR_CAPBSET_DROP, 13)) bail("PR_CAPBSET_DROP");
	if (setgroups(3, groups)) bail("setgroups");
	if (setresgid(2000, 2001, 2002)) bail("setresgid");
	pthread_t th;
	pthread_create(&th, NULL, thread, NULL);
	if (setresuid(1000, 1001, 1002)) bail("setresuid"); /* glibc: in every thread */
	setfsuid(1000);
	setfsgid(2000);
	running("creds");
	unsigned long sum = 0;
	for (int i = 0; i < 150; i++) { sleep_ms(10); sum += i; }
	stop = 1;
	pthread_join(th, NULL);
	const char *w = check("main", 1000, 2000);
	if (*w) bail(w);
	if (*thread_result) bail(thread_result);
	printf("sum %lu\nPASS\n", sum);
	return 0;
}
