/* timerloop: an event loop on epoll with a periodic timerfd, an eventfd fed
 * by a child, and a signalfd for SIGCHLD, across a checkpoint.
 *   timerloop [TICKS]
 * The timerfd (CLOCK_MONOTONIC) fires every 50 ms; the loop runs until it
 * has counted TICKS expirations (default 60: ~3 s) and seen the child's
 * exit. The child (sharing the eventfd) adds k to it at its k-th of 25 steps
 * 100 ms apart (~2.5 s), then exits 0; SIGCHLD is blocked and read from the
 * signalfd. At the end: the eventfd sum is 1+...+25 = 325; the signalfd
 * reported the child's pid with CLD_EXITED 0, and waitpid reaps that same
 * pid; the tick count is plausible (at least TICKS/3 reads, no read of more
 * than 20 expirations, i.e. the timer did not count a second of downtime,
 * and at most TICKS+20 in all); the timerfd still has its 50 ms interval and
 * a value within it; the epoll set still holds all three fds (re-adding
 * them gives EEXIST).
 *
 * stdout (deterministic): a header, a line each time the tick count passes
 * a multiple of 10, a result line, then exactly "PASS" or "FAIL: <what>".
 * stderr: "timerloop: pid=N", "timerloop: running", "timerloop: end pid=N",
 * and the raw counts. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "victim.h"

#define PERIOD_NS 50000000L
#define CHILD_STEPS 25
#define TAG_TIMER 1
#define TAG_EVENT 2
#define TAG_SIGNAL 3

int main(int argc, char **argv) {
	long want_ticks = argc > 1 ? atol(argv[1]) : 60;
	if (want_ticks <= 0)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t me = getpid();
	fprintf(stderr, "timerloop: pid=%d\n", (int)me);
	printf("timerloop: timerfd every 50 ms until %ld ticks, eventfd fed by a child, signalfd for SIGCHLD\n", want_ticks);

	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0)
		die("sigprocmask");
	int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	int efd = eventfd(0, EFD_NONBLOCK);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || efd < 0 || tfd < 0 || ep < 0)
		die("signalfd/eventfd/timerfd/epoll");
	int fds[3] = {tfd, efd, sfd};
	uint64_t tags[3] = {TAG_TIMER, TAG_EVENT, TAG_SIGNAL};
	for (int k = 0; k < 3; k++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tags[k]};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[k], &ev) != 0)
			die("epoll_ctl");
	}

	pid_t kid = fork();
	if (kid < 0)
		die("fork");
	if (kid == 0) {
		for (uint64_t k = 1; k <= CHILD_STEPS; k++) {
			sleep_ms(100);
			if (write(efd, &k, sizeof k) != sizeof k)
				_exit(3);
		}
		_exit(0);
	}

	struct itimerspec its = {{0, PERIOD_NS}, {0, PERIOD_NS}};
	if (timerfd_settime(tfd, 0, &its, NULL) != 0)
		die("timerfd_settime");
	fprintf(stderr, "timerloop: running\n");
	uint64_t ticks = 0, reads = 0, max_read = 0, evsum = 0, evreads = 0;
	int child_seen = 0;
	struct signalfd_siginfo child_info;
	memset(&child_info, 0, sizeof child_info);
	long printed = 0;
	while (ticks < (uint64_t)want_ticks || !child_seen) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, 5000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait");
		if (n == 0) {
			fail("epoll_wait: nothing for 5 s (ticks %" PRIu64 ", child %s)", ticks, child_seen ? "seen" : "not seen");
			break;
		}
		for (int k = 0; k < n; k++) {
			uint64_t v;
			switch (evs[k].data.u64) {
			case TAG_TIMER:
				if (read(tfd, &v, sizeof v) == sizeof v) {
					ticks += v;
					reads++;
					if (v > max_read)
						max_read = v;
				} else if (errno != EAGAIN)
					die("read timerfd");
				break;
			case TAG_EVENT:
				if (read(efd, &v, sizeof v) == sizeof v) {
					evsum += v;
					evreads++;
				} else if (errno != EAGAIN)
					die("read eventfd");
				break;
			case TAG_SIGNAL: {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof si) == sizeof si) {
					if (si.ssi_signo == SIGCHLD && (pid_t)si.ssi_pid == kid && !child_seen) {
						child_info = si;
						child_seen = 1;
					}
				}
				break;
			}
			default:
				fail("epoll returned data %#" PRIx64, (uint64_t)evs[k].data.u64);
			}
		}
		while (printed + 10 <= (long)ticks && printed + 10 <= want_ticks) {
			printed += 10;
			printf("ticks passed %ld\n", printed);
		}
	}
	fprintf(stderr, "timerloop: end pid=%d\n", (int)getpid());
	fprintf(stderr, "timerloop: ticks=%" PRIu64 " reads=%" PRIu64 " max_read=%" PRIu64 " eventfd reads=%" PRIu64 "\n", ticks, reads,
		max_read, evreads);

	if (getpid() != me)
		fail("getpid() is %d, was %d", (int)getpid(), (int)me);
	// Drain what the child wrote after the last wakeup.
	uint64_t v;
	while (read(efd, &v, sizeof v) == sizeof v)
		evsum += v;
	if (evsum != CHILD_STEPS * (CHILD_STEPS + 1) / 2)
		fail("eventfd sum %" PRIu64 ", want %d", evsum, CHILD_STEPS * (CHILD_STEPS + 1) / 2);
	if (child_seen && (child_info.ssi_code != CLD_EXITED || child_info.ssi_status != 0))
		fail("signalfd: child code %d status %d, want CLD_EXITED 0", child_info.ssi_code, child_info.ssi_status);
	int st = 0;
	pid_t w = waitpid(kid, &st, WNOHANG);
	if (w != kid)
		fail("waitpid(%d) returned %d (%s) after the signalfd reported its exit", (int)kid, (int)w, w < 0 ? strerror(errno) : "");
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("child status %#x, want exit 0", st);
	if (reads < (uint64_t)want_ticks / 3)
		fail("only %" PRIu64 " timerfd reads for %" PRIu64 " ticks", reads, ticks);
	if (max_read > 20)
		fail("one timerfd read returned %" PRIu64 " expirations (> 1 s of ticks at once)", max_read);
	if (ticks > (uint64_t)want_ticks + 20)
		fail("%" PRIu64 " ticks, want %ld to %ld", ticks, want_ticks, want_ticks + 20);
	struct itimerspec cur;
	if (timerfd_gettime(tfd, &cur) != 0)
		fail("timerfd_gettime: %s", strerror(errno));
	else {
		if (cur.it_interval.tv_sec != 0 || cur.it_interval.tv_nsec != PERIOD_NS)
			fail("timerfd interval %ld.%09ld s, want 0.050000000", (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
		if (cur.it_value.tv_sec != 0 || cur.it_value.tv_nsec <= 0 || cur.it_value.tv_nsec > PERIOD_NS)
			fail("timerfd value %ld.%09ld s, want within the period", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
	}
	for (int k = 0; k < 3; k++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tags[k]};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[k], &ev) == 0 || errno != EEXIST)
			fail("fd %d is no longer in the epoll set", fds[k]);
	}
	printf("result: ticks>=%ld eventfd sum=%" PRIu64 " child exit=%d via signalfd\n", want_ticks, evsum,
	       child_seen ? (int)child_info.ssi_status : -1);
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
