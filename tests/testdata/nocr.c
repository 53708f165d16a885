/* nocr: makes one syscall of crrun's NOCR table, reports what it got, and
 * optionally holds the resulting state until told (a line on stdin) to release
 * it, so the test can look at `crrun status` in between.
 *
 *   nocr MODE [hold]
 *
 * Prints "MODE ret=R errno=NAME", then with "hold": "HOLDING", waits for a
 * line, releases (close/unmap), prints "RELEASED", waits for a line, exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <mqueue.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void waitline(void) {
	char buf[64];
	if (!fgets(buf, sizeof buf, stdin)) { /* EOF: fine */ }
}

static long sock_i386(void) {
	/* socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE) through the i386 ABI: int $0x80 with
	 * eax=359 (i386 __NR_socket). seccomp sees AUDIT_ARCH_I386. */
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(359), "b"(AF_INET), "c"(SOCK_DGRAM), "d"(IPPROTO_UDPLITE) : "memory");
	return ret;
}

static void *thread_socket(void *arg) {
	*(int *)arg = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 2) { fprintf(stderr, "usage: nocr MODE [hold]\n"); return 2; }
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *m = argv[1];
	int hold = argc > 2 && strcmp(argv[2], "hold") == 0;
	long ret = -1;
	int fd = -1;
	void *map = NULL;
	errno = 0;
	if (!strcmp(m, "socket_inet")) ret = fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE); /* TCP, UDP and raw are saved */
	else if (!strcmp(m, "socket_inet6")) ret = fd = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDPLITE);
	else if (!strcmp(m, "socket_unix")) ret = fd = socket(AF_UNIX, SOCK_STREAM, 0);
	else if (!strcmp(m, "socketpair_inet")) { int sv[2]; ret = socketpair(AF_INET, SOCK_STREAM, 0, sv); }
	else if (!strcmp(m, "socket_i386")) { ret = sock_i386(); if (ret < 0) { errno = -ret; ret = -1; } else fd = ret; }
	else if (!strcmp(m, "io_uring")) { char p[120] = {0}; ret = fd = syscall(SYS_io_uring_setup, 4, p); }
	else if (!strcmp(m, "aio")) { unsigned long ctx = 0; ret = syscall(SYS_io_setup, 4, &ctx); }
	else if (!strcmp(m, "userfaultfd")) ret = fd = syscall(SYS_userfaultfd, O_CLOEXEC);
	else if (!strcmp(m, "perf")) {
		struct perf_event_attr a; memset(&a, 0, sizeof a);
		a.type = PERF_TYPE_SOFTWARE; a.size = sizeof a; a.config = PERF_COUNT_SW_TASK_CLOCK; a.disabled = 1;
		ret = fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	}
	else if (!strcmp(m, "bpf")) {
		union bpf_attr a; memset(&a, 0, sizeof a);
		a.map_type = BPF_MAP_TYPE_ARRAY; a.key_size = 4; a.value_size = 4; a.max_entries = 1;
		ret = fd = syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a);
	}
	else if (!strcmp(m, "shmget")) ret = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	else if (!strcmp(m, "mq_open")) {
		ret = mq_open("/crrun-nocr-q", O_CREAT | O_RDWR, 0600, NULL);
		mq_unlink("/crrun-nocr-q");
	}
	else if (!strcmp(m, "clone_sysvsem")) {
		/* a child sharing the parent's SEM_UNDO list (fork-like raw clone) */
		ret = syscall(SYS_clone, CLONE_SYSVSEM | SIGCHLD, 0, 0, 0, 0);
		if (ret == 0)
			_exit(0);
		if (ret > 0)
			waitpid(ret, NULL, 0);
	}
	else if (!strcmp(m, "semop_undo")) {
		int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
		struct sembuf op = {0, 1, SEM_UNDO};
		ret = id < 0 ? -1 : semop(id, &op, 1);
	}
	else if (!strcmp(m, "inotify")) ret = fd = inotify_init1(IN_CLOEXEC);
	else if (!strcmp(m, "memfd_secret")) ret = fd = syscall(SYS_memfd_secret, 0);
	else if (!strcmp(m, "unshare")) ret = unshare(CLONE_NEWUTS);
	else if (!strcmp(m, "timer")) { timer_t t; struct sigevent ev = {.sigev_notify = SIGEV_NONE}; ret = timer_create(CLOCK_MONOTONIC, &ev, &t); }
	else if (!strcmp(m, "ptrace")) ret = ptrace(PTRACE_TRACEME, 0, 0, 0);
	else if (!strcmp(m, "personality")) ret = personality(0x0006); /* PER_BSD: not a Linux execution domain */
	else if (!strcmp(m, "personality_flags")) ret = personality(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC); /* saved and restored */
	else if (!strcmp(m, "personality_query")) ret = personality(0xffffffff);
	else if (!strcmp(m, "keyctl")) ret = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 1);
	else if (!strcmp(m, "chroot")) ret = chroot("/");
	else if (!strcmp(m, "seccomp")) ret = syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, 8 /* NEW_LISTENER */, NULL); /* EFAULT, but it traps */
	else if (!strcmp(m, "thread_socket")) {
		pthread_t th; int r = -1;
		pthread_create(&th, NULL, thread_socket, &r); pthread_join(th, NULL);
		ret = fd = r;
	}
	else if (!strcmp(m, "child_socket")) {
		pid_t c = fork();
		if (c == 0) { int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE); printf("child pid=%d socket=%d\n", getpid(), s); _exit(s < 0); }
		int st; waitpid(c, &st, 0);
		ret = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	}
	else { fprintf(stderr, "nocr: unknown mode %s\n", m); return 2; }
	int e = errno;
	printf("%s ret=%ld errno=%s pid=%d\n", m, ret, ret < 0 ? strerrorname_np(e) : "0", getpid());
	if (hold) {
		printf("HOLDING\n");
		waitline();
		if (fd >= 0) close(fd);
		if (map) munmap(map, 4096);
		if (!strcmp(m, "personality")) personality(0);
		printf("RELEASED\n");
		waitline();
	}
	return 0;
}
