/*
 * kinds: one of each kind of state the tree engine saves, checked after a
 * checkpoint/restore anywhere in its ~3 s of life:
 *   zombies (exit 42; killed by SIGTERM), a setsid child, a setpgid child,
 *   a socketpair with bytes in flight, a sealed memfd mapped shared by two
 *   processes, shared anonymous memory, a timerfd in an epoll set, a
 *   signalfd, an eventfd written by a child, a POSIX timer (SIGEV_SIGNAL,
 *   periodic) and a disarmed SIGEV_NONE one with a known id, a FIFO with
 *   bytes buffered, dup'd fds sharing one offset, an O_NONBLOCK pipe end,
 *   a daemon (double fork: its session's leader is gone) and a process
 *   group whose leader exited and was reaped, inotify watches with a gap in
 *   their descriptors.
 * stdout: "PASS" or "FAIL: ..." lines, then FAIL. stderr: "kinds: pid=N",
 * "kinds: running", "kinds: end pid=N".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fails;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL: " __VA_ARGS__); printf("\n"); fails++; } } while (0)

static volatile sig_atomic_t rt_ticks;
static void on_rt(int s) { (void)s; rt_ticks++; }

int main(int argc, char **argv) {
	const char *dir = argc > 1 ? argv[1] : ".";
	fprintf(stderr, "kinds: pid=%d\n", (int)getpid());
	atomic_long *shared = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int sp[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	int mfd = memfd_create("crrun-test", MFD_ALLOW_SEALING);
	char text[] = "memfd content 12345";
	write(mfd, text, sizeof text);
	ftruncate(mfd, 4096);
	fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK);
	char *mm = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
	struct itimerspec its = {{0, 50 * 1000 * 1000}, {0, 50 * 1000 * 1000}};
	timerfd_settime(tfd, 0, &its, 0);
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGUSR2);
	sigprocmask(SIG_BLOCK, &ss, 0);
	int sfd = signalfd(-1, &ss, 0);
	int efd = eventfd(5, 0);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77};
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	/* POSIX timers: a periodic SIGRTMIN one and a disarmed SIGEV_NONE one. */
	signal(SIGRTMIN, on_rt);
	timer_t t1, t2;
	struct sigevent se = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
	timer_create(CLOCK_MONOTONIC, &se, &t1);
	struct itimerspec pit = {{0, 100 * 1000 * 1000}, {0, 100 * 1000 * 1000}}; /* 100 ms: a loaded machine that leaves the process unscheduled past a period makes an overrun, which a checkpoint refuses */
	timer_settime(t1, 0, &pit, 0);
	struct sigevent sn = {.sigev_notify = SIGEV_NONE};
	timer_create(CLOCK_REALTIME, &sn, &t2);
	/* A FIFO with bytes waiting, and a file through two dup'd fds. */
	char fifo[4096], path[4096];
	snprintf(fifo, sizeof fifo, "%s/kinds.fifo", dir);
	unlink(fifo);
	mkfifo(fifo, 0600);
	int fr = open(fifo, O_RDONLY | O_NONBLOCK);
	int fw = open(fifo, O_WRONLY);
	write(fw, "fifo-bytes", 10);
	snprintf(path, sizeof path, "%s/kinds.log", dir);
	int lf = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int lf2 = dup(lf);
	/* inotify: root only (KINDS_NO_INOTIFY=1 leaves it out). */
	int use_inotify = !getenv("KINDS_NO_INOTIFY");
	int inf = -1, w1 = 1, w3 = 3;
	if (use_inotify) {
		inf = inotify_init1(IN_NONBLOCK);
		w1 = inotify_add_watch(inf, dir, IN_CREATE);
		inotify_rm_watch(inf, inotify_add_watch(inf, fifo, IN_ACCESS));
		w3 = inotify_add_watch(inf, path, IN_CLOSE_WRITE);
		/* The removed watch queued an IN_IGNORED: read it now (queued
		 * events refuse a checkpoint: a restore cannot queue them). */
		char ign[256];
		while (read(inf, ign, sizeof ign) > 0)
			;
	}
	int np[2];
	pipe2(np, O_NONBLOCK);
	write(np[1], "nb", 2);

	/* A daemon: the session leader forks it and exits; it reports its ids. */
	pid_t d1 = fork();
	if (d1 == 0) {
		setsid();
		if (fork() == 0) {
			for (;;) {
				shared[1] = getsid(0);
				shared[2] = getpgid(0);
				shared[3] = getppid();
				shared[4] = getpid();
				usleep(10000);
			}
		}
		_exit(0);
	}
	waitpid(d1, 0, 0);
	/* A group whose leader is gone: A leads it, B joins, A exits. */
	pid_t ga = fork();
	if (ga == 0) { setpgid(0, 0); usleep(100000); _exit(0); }
	setpgid(ga, ga);
	pid_t gb = fork();
	if (gb == 0) { setpgid(0, ga); for (;;) pause(); }
	setpgid(gb, ga);
	waitpid(ga, 0, 0);
	while (!shared[4]) usleep(1000);

	pid_t z = fork();
	if (z == 0) _exit(42);
	pid_t k = fork();
	if (k == 0) { pause(); _exit(0); }
	kill(k, SIGTERM);
	pid_t s = fork();
	if (s == 0) { setsid(); for (;;) pause(); }
	pid_t g = fork();
	if (g == 0) { setpgid(0, 0); for (;;) pause(); }
	pid_t w = fork();
	if (w == 0) {
		close(sp[0]);
		for (int i = 0; i < 100; i++) {
			char b[32];
			int n = sprintf(b, "msg%03d;", i);
			write(sp[1], b, n);
			atomic_fetch_add(shared, 1);
			write(lf, "c", 1);
			usleep(20000);
		}
		strcpy(mm + 100, "child wrote");
		uint64_t one = 1;
		write(efd, &one, 8);
		_exit(0);
	}
	close(sp[1]);
	fprintf(stderr, "kinds: running\n");
	for (int i = 0; i < 100; i++) write(lf2, "p", 1);
	struct timespec t0, t1s;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do { /* the checkpoint lands here; SIGRTMIN interrupts sleeps */
		usleep(10000);
		clock_gettime(CLOCK_MONOTONIC, &t1s);
	} while ((t1s.tv_sec - t0.tv_sec) * 1000000000L + (t1s.tv_nsec - t0.tv_nsec) < 3500000000L); /* 3.5 s, not 2-3 */
	while (rt_ticks < 5) usleep(10000);
	clock_gettime(CLOCK_MONOTONIC, &t1s);

	char buf[4096];
	int tot = 0, n;
	while (tot < 700 && (n = read(sp[0], buf + tot, sizeof buf - tot)) > 0) tot += n;
	CHECK(tot == 700, "socket got %d bytes", tot);
	for (int i = 0; i < 100 && tot == 700; i++) {
		char b[32];
		sprintf(b, "msg%03d;", i);
		if (memcmp(buf + 7 * i, b, 7)) { CHECK(0, "message %d out of order", i); break; }
	}
	int st;
	CHECK(waitpid(z, &st, 0) == z && WIFEXITED(st) && WEXITSTATUS(st) == 42, "zombie status %#x", st);
	CHECK(waitpid(k, &st, 0) == k && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "killed child status %#x", st);
	CHECK(waitpid(w, &st, 0) == w && WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer status %#x", st);
	CHECK(getsid(s) == s, "setsid child: sid %d", getsid(s));
	CHECK(getpgid(g) == g, "setpgid child: pgid %d", getpgid(g));
	CHECK(*shared == 100, "shared counter %ld", (long)*shared);
	CHECK(shared[1] == d1 && shared[2] == d1 && shared[3] == 1, "daemon: sid %ld pgid %ld ppid %ld, want %d %d 1",
	      (long)shared[1], (long)shared[2], (long)shared[3], (int)d1, (int)d1);
	CHECK(getpgid(gb) == ga, "group without leader: pgid %d, want %d", getpgid(gb), (int)ga);
	CHECK(!strcmp(mm + 100, "child wrote"), "memfd mapping holds '%s'", mm + 100);
	char rb[64] = {0};
	pread(mfd, rb, sizeof text, 0);
	CHECK(!strcmp(rb, text), "memfd content '%s'", rb);
	CHECK(fcntl(mfd, F_GET_SEALS) == F_SEAL_SHRINK, "memfd seals %#x", fcntl(mfd, F_GET_SEALS));
	uint64_t v = 0;
	read(efd, &v, 8);
	CHECK(v == 6, "eventfd %lu", (unsigned long)v);
	struct epoll_event got;
	CHECK(epoll_wait(ep, &got, 1, 1000) == 1 && got.data.u64 == 77, "epoll on the timerfd");
	uint64_t ticks = 0;
	CHECK(read(tfd, &ticks, 8) == 8 && ticks >= 1, "timerfd ticks");
	kill(getpid(), SIGUSR2);
	struct signalfd_siginfo si;
	CHECK(read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR2, "signalfd");
	CHECK(rt_ticks >= 5, "POSIX timer fired %d times", (int)rt_ticks);
	struct itimerspec cur;
	CHECK(timer_gettime(t1, &cur) == 0 && cur.it_interval.tv_nsec == 100 * 1000 * 1000, "POSIX timer 1 interval");
	CHECK(timer_gettime(t2, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0, "POSIX timer 2 (disarmed)");
	char fb[16] = {0};
	CHECK(read(fr, fb, sizeof fb) == 10 && !memcmp(fb, "fifo-bytes", 10), "FIFO bytes '%s'", fb);
	CHECK(lseek(lf, 0, SEEK_CUR) == 200 && lseek(lf2, 0, SEEK_CUR) == 200, "shared offset %ld/%ld",
	      (long)lseek(lf, 0, SEEK_CUR), (long)lseek(lf2, 0, SEEK_CUR));
	CHECK(fcntl(np[0], F_GETFL) & O_NONBLOCK, "pipe end lost O_NONBLOCK");
	char probe[4096];
	snprintf(probe, sizeof probe, "%s/inotify-probe", dir);
	close(open(probe, O_CREAT | O_WRONLY, 0600));
	unlink(probe);
	char evbuf[4096] __attribute__((aligned(8)));
	int seen = 0;
	ssize_t en = use_inotify ? read(inf, evbuf, sizeof evbuf) : 0;
	seen = !use_inotify;
	for (char *e = evbuf; en > 0 && e < evbuf + en; e += sizeof(struct inotify_event) + ((struct inotify_event *)e)->len) {
		struct inotify_event *ie = (struct inotify_event *)e;
		if (ie->wd == w1 && (ie->mask & IN_CREATE) && ie->len && !strcmp(ie->name, "inotify-probe")) seen = 1;
	}
	CHECK(seen, "no inotify IN_CREATE event on watch %d (read %zd)", w1, en);
	CHECK(w1 == 1 && w3 == 3, "watch descriptors %d %d", w1, w3);
	CHECK(!use_inotify || inotify_add_watch(inf, path, IN_CLOSE_WRITE) == w3, "the log's watch is not %d any more", w3);
	CHECK(!use_inotify || fcntl(inf, F_GETFL) & O_NONBLOCK, "inotify lost O_NONBLOCK");
	char nb[4] = {0};
	CHECK(read(np[0], nb, 4) == 2 && read(np[0], nb, 4) < 0 && errno == EAGAIN, "non-blocking pipe");
	(void)t1s;
	kill(s, SIGKILL);
	kill(g, SIGKILL);
	kill(gb, SIGKILL);
	kill((pid_t)shared[4], SIGKILL);
	waitpid(gb, 0, 0);
	waitpid(s, 0, 0);
	waitpid(g, 0, 0);
	fprintf(stderr, "kinds: end pid=%d\n", (int)getpid());
	printf(fails ? "FAIL\n" : "PASS\n");
	return fails != 0;
}
