// corpus: the app's own seccomp filters (one for the process, one more in a thread), restored by root on top of crrun's
// expect: exact
// needs: root
#include "corpus.h"
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }

/* a filter failing syscall nr with errno err, allowing everything else */
static int deny(int nr, int err) {
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int filters(void) {
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%ld/status", (long)syscall(SYS_gettid));
	FILE *f = fopen(path, "r");
	int n = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "Seccomp_filters:", 16)) n = atoi(line + 16);
	if (f) fclose(f);
	return n;
}

static volatile int stop;
static const char *result = "not run";
static int thread_filters;
static void *thread(void *arg) {
	(void)arg;
	if (deny(SYS_getpgrp, ENOENT)) { result = "thread's seccomp"; return NULL; }
	while (!stop) sleep_ms(10);
	errno = 0;
	if (syscall(SYS_getpgrp) != -1 || errno != ENOENT) { result = "the thread's filter is gone: getpgrp succeeded"; return NULL; }
	errno = 0;
	if (syscall(SYS_getppid) != -1 || errno != EPERM) { result = "the process filter is gone in the thread"; return NULL; }
	thread_filters = filters();
	result = "";
	return NULL;
}

int main(void) {
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) bail("no_new_privs");
	if (deny(SYS_getppid, EPERM)) bail("seccomp");
	pthread_t th;
	pthread_create(&th, NULL, thread, NULL);
	running("seccomp_filter");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	stop = 1;
	pthread_join(th, NULL);
	if (*result) bail(result);
	errno = 0;
	if (syscall(SYS_getppid) != -1 || errno != EPERM) bail("the filter is gone: getppid succeeded");
	if (syscall(SYS_getpgrp) <= 0) bail("the thread's filter acts in the main thread");
	int n = filters();
	if (n < 2 || thread_filters != n + 1) { printf("FAIL: %d filters in main, %d in the thread\n", n, thread_filters); return 1; }
	printf("PASS\n");
	return 0;
}
