/* misc: the per-process state and fd kinds the other victims do not cover.
 * Sets up, then loops ~3 s (stderr "misc: running" when the checkpoint
 * window opens), then checks everything and prints PASS or FAIL: <what>.
 *   misc DIR       DIR: a scratch directory of the test's
 * Covered: a directory fd (fchdir back to it), a deleted-but-open file whose
 * content and offset must survive, /dev/null, /dev/zero, /dev/urandom fds,
 * an O_APPEND file, a close-on-exec flag, eventfd + epoll in C, SIGPIPE
 * ignored (SIG_IGN), ITIMER_PROF firing, umask, cwd, RLIMIT_NOFILE lowered,
 * comm set with PR_SET_NAME, the parent-death signal, and the pid. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t profs;
static void onprof(int s) { (void)s; profs++; }

#define FAIL(...) do { printf("FAIL: " __VA_ARGS__); printf("\n"); return 1; } while (0)

int main(int argc, char **argv) {
	if (argc < 2) return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *dir = argv[1];
	char path[4096];
	pid_t pid = getpid();
	fprintf(stderr, "misc: pid=%d\n", pid);
	if (chdir(dir) != 0) FAIL("chdir");
	mkdir("sub", 0755);
	int dfd = open("sub", O_RDONLY | O_DIRECTORY);
	if (chdir("/") != 0) FAIL("chdir /");
	snprintf(path, sizeof path, "%s/deleted", dir);
	int del = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	const char *msg = "the content of a deleted file";
	if (write(del, msg, strlen(msg)) != (ssize_t)strlen(msg)) FAIL("write deleted");
	lseek(del, 4, SEEK_SET);
	unlink(path);
	int dnull = open("/dev/null", O_WRONLY), dzero = open("/dev/zero", O_RDONLY), durand = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof path, "%s/appended", dir);
	int app = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
	int efd = eventfd(3, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234567890abcdefULL};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0) FAIL("epoll_ctl");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGPROF, onprof);
	struct itimerval it = {{0, 5000}, {0, 5000}};
	setitimer(ITIMER_PROF, &it, NULL);
	umask(027);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = 777;
	setrlimit(RLIMIT_NOFILE, &rl);
	prctl(PR_SET_NAME, "misc-renamed");
	prctl(PR_SET_PDEATHSIG, SIGUSR2);
	snprintf(path, sizeof path, "%s/sub", dir);
	if (chdir(path) != 0) FAIL("chdir sub");

	fprintf(stderr, "misc: running\n");
	volatile uint64_t x = 1;
	for (int i = 0; i < 30; i++) {
		for (long j = 0; j < 50000000; j++) x = x * 6364136223846793005ULL + 1;
		if (dprintf(app, "line %d\n", i) < 0) FAIL("append");
		if (i % 10 == 9) printf("progress %d\n", i + 1);
	}

	char buf[128];
	if (getpid() != pid) FAIL("pid %d, was %d", getpid(), pid);
	if (fchdir(dfd) != 0) FAIL("fchdir to the directory fd");
	if (!getcwd(buf, sizeof buf) || strcmp(buf, path) != 0) FAIL("cwd %s, want %s", buf, path);
	ssize_t n = read(del, buf, sizeof buf);
	if (n != (ssize_t)strlen(msg) - 4 || memcmp(buf, msg + 4, n) != 0) FAIL("deleted file: read %zd bytes", n);
	if (write(dnull, "x", 1) != 1) FAIL("/dev/null");
	if (read(dzero, buf, 8) != 8 || buf[0] || buf[7]) FAIL("/dev/zero");
	if (read(durand, buf, 8) != 8) FAIL("/dev/urandom");
	if (!(fcntl(durand, F_GETFD) & FD_CLOEXEC) || (fcntl(dnull, F_GETFD) & FD_CLOEXEC)) FAIL("close-on-exec flags");
	if (!(fcntl(app, F_GETFL) & O_APPEND)) FAIL("O_APPEND");
	struct stat st;
	fstat(app, &st);
	if (st.st_size != 230) FAIL("appended file size %lld, want 230", (long long)st.st_size);
	struct epoll_event got;
	if (epoll_wait(ep, &got, 1, 1000) != 1 || got.data.u64 != 0x1234567890abcdefULL) FAIL("epoll lost its eventfd");
	uint64_t cnt;
	if (read(efd, &cnt, 8) != 8 || cnt != 3) FAIL("eventfd count %llu", (unsigned long long)cnt);
	struct sigaction sa;
	sigaction(SIGPIPE, NULL, &sa);
	if (sa.sa_handler != SIG_IGN) FAIL("SIGPIPE no longer ignored");
	int before = profs;
	for (long j = 0; j < 30000000; j++) x = x * 6364136223846793005ULL + 1;
	if (profs <= before) FAIL("ITIMER_PROF stopped (%d)", profs);
	mode_t m = umask(0);
	if (m != 027) FAIL("umask %o", m);
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != 777) FAIL("RLIMIT_NOFILE %llu", (unsigned long long)rl.rlim_cur);
	prctl(PR_GET_NAME, buf);
	if (strcmp(buf, "misc-renamed") != 0) FAIL("comm %s", buf);
	int pd = 0;
	prctl(PR_GET_PDEATHSIG, &pd);
	if (pd != SIGUSR2) FAIL("pdeathsig %d", pd);
	fprintf(stderr, "misc: end pid=%d\n", getpid());
	printf("PASS\n");
	return 0;
}
