// corpus: an event loop — epoll over a pipe, an eventfd (semaphore mode), a timerfd and a signalfd, with bytes buffered in the pipe
// expect: exact
#include "corpus.h"
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

int main(void) {
	int p[2];
	if (pipe2(p, O_NONBLOCK)) die("pipe2");
	if (write(p[1], "hello", 5) != 5) die("write");
	int ev = eventfd(5, EFD_SEMAPHORE | EFD_NONBLOCK);
	int tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	struct itimerspec ts = {{0, 50000000}, {0, 50000000}};
	timerfd_settime(tf, 0, &ts, NULL);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	int sf = signalfd(-1, &m, SFD_NONBLOCK);
	int ep = epoll_create1(0);
	if (ev < 0 || tf < 0 || sf < 0 || ep < 0) die("create");
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 100};
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e);
	e.data.u64 = 200;
	epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e);
	e.events = EPOLLIN | EPOLLET;
	e.data.u64 = 300;
	epoll_ctl(ep, EPOLL_CTL_ADD, tf, &e);
	e.events = EPOLLIN;
	e.data.u64 = 400;
	epoll_ctl(ep, EPOLL_CTL_ADD, sf, &e);
	kill(getpid(), SIGUSR2);
	running("eventloop");
	uint64_t expirations = 0;
	for (int i = 0; i < 150; i++) {
		uint64_t n;
		if (read(tf, &n, 8) == 8)
			expirations += n;
		sleep_ms(10);
	}
	if (expirations < 15) fail("timerfd expired %lu times in 1.5 s at 50 ms", (unsigned long)expirations);
	struct epoll_event out[8];
	int n = epoll_wait(ep, out, 8, 100);
	int seen = 0;
	for (int i = 0; i < n; i++) seen |= 1 << (out[i].data.u64 / 100);
	if (!(seen & 2) || !(seen & 4) || !(seen & 16)) fail("epoll reported %#x, want the pipe, eventfd and signalfd", seen);
	char buf[16] = {0};
	if (read(p[0], buf, sizeof buf) != 5 || memcmp(buf, "hello", 5)) fail("pipe holds %s, want hello", buf);
	uint64_t one;
	for (int i = 0; i < 5; i++)
		if (read(ev, &one, 8) != 8 || one != 1) fail("eventfd semaphore read %d", i);
	if (read(ev, &one, 8) != -1) fail("eventfd count above 5");
	struct signalfd_siginfo si;
	if (read(sf, &si, sizeof si) != sizeof si || si.ssi_signo != SIGUSR2) fail("signalfd lost the pending SIGUSR2");
	if (!(fcntl(p[0], F_GETFL) & O_NONBLOCK)) fail("pipe lost O_NONBLOCK");
	return finish();
}
