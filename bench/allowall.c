/*
 * allowall: run a program under the cheapest possible seccomp filter.
 *
 * Usage: allowall PROGRAM [ARGS...]
 *
 * Sets PR_SET_NO_NEW_PRIVS, installs a one-instruction classic-BPF filter
 * (`ret SECCOMP_RET_ALLOW`) and execs PROGRAM. The kernel's seccomp action
 * cache marks every syscall constant-allow, so what remains is the fixed cost
 * of having any filter at all (the syscall entry slow path): the floor crrun's
 * untrapped syscalls are measured against.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: allowall PROGRAM [ARGS...]\n");
		return 2;
	}
	struct sock_filter insns[] = {
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof insns / sizeof insns[0]),
		.filter = insns,
	};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("allowall: prctl(PR_SET_NO_NEW_PRIVS)");
		return 2;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("allowall: seccomp(SECCOMP_SET_MODE_FILTER)");
		return 2;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "allowall: exec %s: %s\n", argv[1], strerror(errno));
	return 127;
}
