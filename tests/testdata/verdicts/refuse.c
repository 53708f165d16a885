/* refuse <mode>: hold one kind of state the checkpoint refuses and a scan
 * can see, say "refuse: running", keep it ~4 s, exit 0 (TestVerdictsAgree:
 * `crrun status` must say no with the reasons `crrun checkpoint` gives).
 *   clone_vm     a child sharing our memory (clone(CLONE_VM), as a vfork
 *                child before exec)
 *   clone_files  a child sharing our fd table (clone(CLONE_FILES))
 *   pthread_exit the main thread exits, another runs on
 *   dgram_queue  a unix datagram socketpair with a message queued
 *   pending      a listening unix socket with a connection not accepted
 *   scm_rights   a unix stream socketpair with an fd in flight
 *   pidfd_gone   a pidfd of a child that has exited and been reaped
 *   sysv_keep    a SysV segment created and kept (not attached)
 *   deleted_map  a deleted file mapped, its fd closed (only root can read
 *                it back: refused for an ordinary user)
 *   sched_batch  SCHED_BATCH scheduling (the inventory refuses it)
 *   nice         a nice value other than crrun's (inherited, not restored)
 *   flock        a flock held on a file
 *   setown       F_SETOWN on a pipe
 *   inotify_renamed  an inotify watch on a file renamed since (an ordinary
 *                user finds a watched file by the path given to
 *                inotify_add_watch only)
 *   sockets      socket(AF_INET6), socket(AF_INET) (UDP-Lite: TCP and UDP
 *                are saved), close the first, dup
 *                the second to fd 9 (status must name socket(AF_INET) for
 *                fd 4, and no call for fd 9) */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	printf("FAIL: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void sleep_s(int s) {
	struct timespec ts = {s, 0};
	while (syscall(SYS_nanosleep, &ts, &ts) != 0 && errno == EINTR)
		;
}

static int child_fn(void *arg) {
	(void)arg;
	sleep_s(6);
	syscall(SYS_exit, 0);
	return 0;
}

static void *thread_fn(void *arg) {
	(void)arg;
	sleep_s(4);
	printf("PASS\n");
	fflush(stdout);
	exit(0);
}

static char stack[1 << 16] __attribute__((aligned(16)));

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	int shmid = -1;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(mode, "clone_vm") || !strcmp(mode, "clone_files")) {
		int flags = !strcmp(mode, "clone_vm") ? CLONE_VM : CLONE_FILES;
		if (clone(child_fn, stack + sizeof stack, flags | SIGCHLD, NULL) < 0)
			die("clone");
	} else if (!strcmp(mode, "pthread_exit")) {
		pthread_t t;
		if (pthread_create(&t, NULL, thread_fn, NULL))
			die("pthread_create");
		fprintf(stderr, "refuse: running\n");
		pthread_exit(NULL);
	} else if (!strcmp(mode, "dgram_queue")) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) || send(sv[0], "x", 1, 0) != 1)
			die("datagram");
	} else if (!strcmp(mode, "pending")) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "crrun-refuse-%d", getpid());
		socklen_t l = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1);
		int ls = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (bind(ls, (void *)&a, l) || listen(ls, 4) || connect(c, (void *)&a, l))
			die("pending connection");
	} else if (!strcmp(mode, "scm_rights")) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			die("socketpair");
		char buf[CMSG_SPACE(sizeof(int))] = {0};
		struct iovec io = {"x", 1};
		struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(sizeof(int));
		int fd = 1;
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
		if (sendmsg(sv[0], &m, 0) != 1)
			die("sendmsg");
	} else if (!strcmp(mode, "pidfd_gone")) {
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		int pfd = syscall(SYS_pidfd_open, p, 0);
		if (pfd < 0)
			die("pidfd_open");
		waitpid(p, NULL, 0);
	} else if (!strcmp(mode, "sysv_keep")) {
		if ((shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600)) < 0)
			die("shmget");
	} else if (!strcmp(mode, "deleted_map")) {
		char path[] = "refuse-map-XXXXXX";
		int fd = mkstemp(path);
		if (fd < 0 || write(fd, "mapped", 6) != 6)
			die("mkstemp");
		if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
			die("mmap");
		unlink(path);
		close(fd);
	} else if (!strcmp(mode, "sched_batch")) {
		struct sched_param sp = {0};
		if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
			die("sched_setscheduler");
	} else if (!strcmp(mode, "nice")) {
		if (setpriority(PRIO_PROCESS, 0, getpriority(PRIO_PROCESS, 0) + 3) < 0)
			die("setpriority");
	} else if (!strcmp(mode, "flock")) {
		char path[] = "/tmp/refuse-lock-XXXXXX";
		int fd = mkstemp(path);
		if (fd < 0 || flock(fd, LOCK_EX) < 0)
			die("flock");
		unlink(path);
	} else if (!strcmp(mode, "setown")) {
		int p[2];
		if (pipe(p) < 0 || fcntl(p[0], F_SETOWN, getpid()) < 0)
			die("F_SETOWN");
	} else if (!strcmp(mode, "inotify_renamed")) {
		char path[] = "refuse-watch-XXXXXX", moved[64];
		int fd = mkstemp(path), in = inotify_init1(IN_CLOEXEC);
		if (fd < 0 || in < 0 || inotify_add_watch(in, path, IN_MODIFY) < 0)
			die("inotify");
		snprintf(moved, sizeof moved, "%s.moved", path);
		if (rename(path, moved) < 0)
			die("rename");
	} else if (!strcmp(mode, "sockets")) {
		int s6 = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDPLITE);
		if (s6 < 0) {
			printf("SKIP: no IPv6 UDP-Lite: %s\n", strerror(errno));
			fprintf(stderr, "refuse: running\n");
			return 0;
		}
		int s4 = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
		if (s6 != 3 || s4 != 4)
			die("sockets are not fds 3 and 4");
		close(s6);
		if (dup2(s4, 9) != 9)
			die("dup2");
	} else {
		fprintf(stderr, "refuse: unknown mode %s\n", mode);
		return 2;
	}
	fprintf(stderr, "refuse: running\n");
	sleep_s(4);
	if (shmid >= 0)
		shmctl(shmid, IPC_RMID, NULL);
	printf("PASS\n");
	return 0;
}
