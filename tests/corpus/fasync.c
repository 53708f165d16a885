// corpus: O_ASYNC fds with F_SETOWN_EX owners (process, thread, process group) and F_SETSIG
// expect: exact
#include "corpus.h"
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>

/* Three O_ASYNC descriptors: a pipe owned by the process with F_SETSIG
 * SIGRTMIN+1 (the handler checks si_fd), a pipe owned by a worker thread
 * (F_OWNER_TID) with SIGRTMIN+2 (delivered to that thread), a socketpair
 * end owned by the process group with the default SIGIO. Every 100 ms
 * each gets a byte; each byte must bring its signal. At the end, F_GETFL,
 * F_GETOWN_EX and F_GETSIG are as set, and one more byte each still
 * signals the right owner with the right si_fd. */

static int p[2], q[2], s[2];
static pid_t worker_tid;
static volatile int got_p, got_q, got_s, bad_fd, bad_thread;

static void on_p(int sig, siginfo_t *si, void *uc) {
	if (si->si_fd != p[0] || si->si_code != POLL_IN)
		bad_fd = si->si_fd + 1000 * si->si_code;
	got_p++;
}
static void on_q(int sig, siginfo_t *si, void *uc) {
	if (syscall(SYS_gettid) != worker_tid)
		bad_thread = 1;
	if (si->si_fd != q[0])
		bad_fd = si->si_fd;
	got_q++;
}
static void on_s(int sig) { got_s++; }

static void *worker(void *arg) {
	sigset_t none;
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	worker_tid = syscall(SYS_gettid);
	for (;;)
		pause();
	return NULL;
}

static void drain(int fd) {
	char b[16];
	while (read(fd, b, sizeof b) > 0)
		;
}

static int rounds;
static void poke(void) {
	int before_p = got_p, before_q = got_q, before_s = got_s;
	if (write(p[1], "x", 1) != 1 || write(q[1], "x", 1) != 1 || write(s[1], "x", 1) != 1)
		die("write");
	for (int i = 0; i < 2000 && (got_p == before_p || got_q == before_q || got_s == before_s); i++)
		sleep_ms(1);
	if (got_p == before_p)
		fail("round %d: no SIGRTMIN+1 for the process-owned pipe", rounds);
	if (got_q == before_q)
		fail("round %d: no SIGRTMIN+2 for the thread-owned pipe", rounds);
	if (got_s == before_s)
		fail("round %d: no SIGIO for the group-owned socket", rounds);
	drain(p[0]);
	drain(q[0]);
	drain(s[0]);
	rounds++;
}

static void step(int i) {
	if (i % 10 == 0)
		poke();
}

static void own(int fd, int type, pid_t pid, int sig) {
	struct f_owner_ex o = {.type = type, .pid = pid};
	if (fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) != 0 || fcntl(fd, F_SETOWN_EX, &o) != 0 ||
	    (sig && fcntl(fd, F_SETSIG, sig) != 0))
		die("fcntl");
}

static void check(const char *what, int fd, int type, pid_t pid, int sig) {
	struct f_owner_ex o;
	if (fcntl(fd, F_GETOWN_EX, &o) != 0 || o.type != type || o.pid != pid)
		fail("%s: F_GETOWN_EX is type %d pid %d, want %d %d", what, o.type, o.pid, type, pid);
	if (fcntl(fd, F_GETSIG) != sig)
		fail("%s: F_GETSIG is %d, want %d", what, fcntl(fd, F_GETSIG), sig);
	int fl = fcntl(fd, F_GETFL);
	if (!(fl & O_ASYNC) || !(fl & O_NONBLOCK))
		fail("%s: flags %#o lack O_ASYNC|O_NONBLOCK", what, fl);
}

int main(void) {
	setpgid(0, 0); /* the group's SIGIO is for us alone */
	struct sigaction sa = {.sa_sigaction = on_p, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigaction(SIGRTMIN + 1, &sa, NULL);
	sa.sa_sigaction = on_q;
	sigaction(SIGRTMIN + 2, &sa, NULL);
	signal(SIGIO, on_s);
	/* the main thread leaves SIGRTMIN+2 to the worker */
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 2);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	pthread_t th;
	if (pthread_create(&th, NULL, worker, NULL) != 0)
		die("pthread_create");
	while (!worker_tid)
		sleep_ms(1);
	if (pipe(p) != 0 || pipe(q) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0)
		die("pipe");
	fcntl(s[1], F_SETFL, O_NONBLOCK);
	own(p[0], F_OWNER_PID, getpid(), SIGRTMIN + 1);
	own(q[0], F_OWNER_TID, worker_tid, SIGRTMIN + 2);
	own(s[0], F_OWNER_PGRP, getpgrp(), 0);
	running("fasync");
	work(step);
	check("process-owned pipe", p[0], F_OWNER_PID, getpid(), SIGRTMIN + 1);
	check("thread-owned pipe", q[0], F_OWNER_TID, worker_tid, SIGRTMIN + 2);
	check("group-owned socket", s[0], F_OWNER_PGRP, getpgrp(), 0);
	poke();
	if (bad_fd)
		fail("a signal came with si_fd/si_code %d", bad_fd);
	if (bad_thread)
		fail("the thread-owned pipe's signal went to another thread");
	return finish();
}
