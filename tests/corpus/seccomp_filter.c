// corpus: the app's own seccomp filter (refused: restore cannot reinstall it yet)
// expect: refuse the app's own seccomp filter not supported yet
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }
static void sleep_ms(int ms) { struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&ts, NULL); }

int main(void) {
	/* getppid fails with EPERM (1), everything else is allowed */
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) fail("no_new_privs");
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) fail("seccomp");
	fprintf(stderr, "seccomp_filter: running\n");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	if (getppid() != -1) fail("the filter is gone: getppid succeeded");
	printf("PASS\n");
	return 0;
}
