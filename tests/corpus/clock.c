// corpus: CLOCK_MONOTONIC and CLOCK_BOOTTIME never go back; timers armed before a checkpoint fire on time
// expect: exact
#include "corpus.h"

/* The app's clocks across a checkpoint (docs/design.md, "Clocks"): read
 * through the vdso (clock_gettime) and the syscall, they never go back; a
 * timerfd, a POSIX timer, a relative nanosleep and an absolute
 * clock_nanosleep armed before the checkpoint fire never early, and late by
 * no more than the biggest step the app's clock took (the checkpoint's pause
 * and the restore, which the app sees). A forked child samples the clocks
 * too (restored by clone3 from its parent, it must be in the same time
 * namespace).
 *
 * CLOCK_HIDDEN_MIN_MS (default 0: not checked): over the biggest step of
 * CLOCK_MONOTONIC, CLOCK_REALTIME (the host's wall clock) must have moved at
 * least this much more: the downtime between checkpoint and restore is
 * hidden (tests/clock_test.go restores 4 s after the checkpoint and sets
 * 3000). Measured against the wall clock, so a slow restore on a loaded
 * machine does not matter. */

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

static int64_t vdso_ns(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t sys_ns(clockid_t c) {
	struct timespec ts;
	syscall(SYS_clock_gettime, c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define NCLK 4
static const char *clk_name[NCLK] = {"vdso MONOTONIC", "syscall MONOTONIC", "vdso BOOTTIME", "syscall BOOTTIME"};
static int64_t last[NCLK], max_jump[NCLK], last_real, real_at_max; /* real_at_max: CLOCK_REALTIME's step then */

static void sample(void) {
	int64_t now[NCLK] = {vdso_ns(CLOCK_MONOTONIC), sys_ns(CLOCK_MONOTONIC), vdso_ns(CLOCK_BOOTTIME),
			     sys_ns(CLOCK_BOOTTIME)};
	int64_t real = vdso_ns(CLOCK_REALTIME);
	for (int i = 0; i < NCLK; i++) {
		if (last[i] && now[i] < last[i])
			fail("%s went back by %lld ns (%lld -> %lld)", clk_name[i], (long long)(last[i] - now[i]),
			     (long long)last[i], (long long)now[i]);
		if (last[i] && now[i] - last[i] > max_jump[i]) {
			max_jump[i] = now[i] - last[i];
			if (i == 0)
				real_at_max = real - last_real;
		}
		last[i] = now[i];
	}
	last_real = real;
	/* the syscall and the vdso agree (same namespace, same offsets) */
	if (llabs(now[1] - now[0]) > 50000000LL)
		fail("vdso and syscall CLOCK_MONOTONIC differ by %lld ns", (long long)(now[1] - now[0]));
}

/* check says whether an event due at app time due (ns) that happened at
 * fired is on time: never early, and late by no more than the biggest step
 * the clock took (plus 300 ms: the 10 ms polling on a loaded machine). */
static void check(const char *what, int64_t due, int64_t fired) {
	int64_t max_late = max_jump[0] + 300000000LL;
	if (fired < due)
		fail("%s fired %lld ms early", what, (long long)(due - fired) / 1000000);
	else if (fired - due > max_late)
		fail("%s fired %lld ms late (the clock's biggest step was %lld ms)", what,
		     (long long)(fired - due) / 1000000, (long long)max_jump[0] / 1000000);
}

/* Sleepers: a relative nanosleep (EINTR loops with the rest, as a
 * checkpoint may interrupt it) and an absolute clock_nanosleep. */
struct sleeper {
	int abs;
	int64_t start, due, end;
};

static void *sleeper(void *arg) {
	struct sleeper *s = arg;
	if (s->abs) {
		struct timespec ts = {s->due / 1000000000LL, s->due % 1000000000LL};
		int rc;
		while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
			;
		if (rc)
			fail("clock_nanosleep(TIMER_ABSTIME): %s", strerror(rc));
	} else {
		int64_t d = s->due - s->start;
		struct timespec ts = {d / 1000000000LL, d % 1000000000LL};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	s->end = vdso_ns(CLOCK_MONOTONIC);
	return NULL;
}

static int tfd;
static timer_t ptimer;
static int64_t tfd_due, tfd_fired, pt_due, pt_fired; /* pt_*: CLOCK_BOOTTIME */

static void step(int i) {
	(void)i;
	sample();
	struct pollfd p = {tfd, POLLIN, 0};
	if (!tfd_fired && poll(&p, 1, 0) == 1) {
		tfd_fired = vdso_ns(CLOCK_MONOTONIC);
		uint64_t n;
		if (read(tfd, &n, sizeof n) != sizeof n || n != 1)
			fail("timerfd: read %llu expirations, want 1", (unsigned long long)n);
	}
	if (!pt_fired) {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGRTMIN + 3);
		struct timespec zero = {0, 0};
		if (sigtimedwait(&s, NULL, &zero) == SIGRTMIN + 3)
			pt_fired = vdso_ns(CLOCK_BOOTTIME);
	}
}

int main(void) {
	const char *e = getenv("CLOCK_HIDDEN_MIN_MS");
	int64_t hidden_min = (e ? atoll(e) : 0) * 1000000LL;

	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfd < 0)
		die("timerfd_create");
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 3);
	if (sigprocmask(SIG_BLOCK, &s, NULL)) /* before the sleepers: they inherit it */
		die("sigprocmask");
	struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 3};
	if (timer_create(CLOCK_BOOTTIME, &sev, &ptimer))
		die("timer_create");

	int64_t t0 = vdso_ns(CLOCK_MONOTONIC);
	/* each fires inside the ~1.5 s window, at its own moment */
	tfd_due = t0 + 900000000LL;
	struct itimerspec its = {.it_value = {0, 900000000L}};
	if (timerfd_settime(tfd, 0, &its, NULL))
		die("timerfd_settime");
	int64_t b0 = vdso_ns(CLOCK_BOOTTIME);
	pt_due = b0 + 1000000000LL; /* in BOOTTIME */
	its.it_value = (struct timespec){1, 0};
	if (timer_settime(ptimer, 0, &its, NULL))
		die("timer_settime");
	struct sleeper rel = {0, t0, t0 + 1100000000LL, 0}, abs = {1, t0, t0 + 1200000000LL, 0};
	pthread_t th[2];
	if (pthread_create(&th[0], NULL, sleeper, &rel) || pthread_create(&th[1], NULL, sleeper, &abs))
		die("pthread_create");

	/* A child samples the clocks too: a restored child (clone3 from its
	 * restored parent) is in the app's time namespace as well. */
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		for (int i = 0; i < 150; i++)
			sample(), sleep_ms(10);
		if (corpus_failures[0])
			fprintf(stderr, "clock: child: %s\n", corpus_failures);
		_exit(corpus_failures[0] ? 1 : 0);
	}

	running("clock");
	work(step);
	/* Bounded: a sleeper whose clock went back by an hour would sleep an
	 * hour more. */
	struct timespec lim;
	clock_gettime(CLOCK_REALTIME, &lim);
	lim.tv_sec += 10;
	for (int i = 0; i < 2; i++)
		if (pthread_timedjoin_np(th[i], NULL, &lim)) {
			fail("the %s still sleeps 10 s after it was due", i ? "clock_nanosleep(TIMER_ABSTIME)" : "nanosleep");
			return finish();
		}
	int ws;
	if (waitpid(child, &ws, 0) != child)
		fail("waitpid(child): %s", strerror(errno));
	else if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		fail("the child saw its clocks go wrong (wait status %#x, see stderr)", ws);
	for (int i = 0; i < 50 && (!tfd_fired || !pt_fired); i++)
		step(0), sleep_ms(10);
	sample();

	if (!tfd_fired)
		fail("the timerfd never fired");
	else
		check("the timerfd (CLOCK_MONOTONIC, 900 ms)", tfd_due, tfd_fired);
	if (!pt_fired)
		fail("the POSIX timer never fired");
	else
		check("the POSIX timer (CLOCK_BOOTTIME, 1 s)", pt_due, pt_fired);
	check("nanosleep (1.1 s)", rel.due, rel.end);
	check("clock_nanosleep(TIMER_ABSTIME, 1.2 s)", abs.due, abs.end);
	/* the downtime is hidden: the wall clock moved by it, the app's not */
	int64_t hidden = real_at_max - max_jump[0];
	if (hidden_min && hidden < hidden_min)
		fail("over CLOCK_MONOTONIC's biggest step (%lld ms) the wall clock moved %lld ms: %lld ms hidden, want %lld",
		     (long long)max_jump[0] / 1000000, (long long)real_at_max / 1000000, (long long)hidden / 1000000,
		     (long long)hidden_min / 1000000);
	fprintf(stderr, "clock: biggest step %lld ms (monotonic), %lld ms (boottime), %lld ms hidden; late: timerfd %lld ms, posix timer %lld ms, nanosleep %lld ms, abs %lld ms\n",
		(long long)max_jump[0] / 1000000, (long long)max_jump[2] / 1000000, (long long)hidden / 1000000, (long long)(tfd_fired - tfd_due) / 1000000,
		(long long)(pt_fired - pt_due) / 1000000,
		(long long)(rel.end - rel.due) / 1000000, (long long)(abs.end - abs.due) / 1000000);
	return finish();
}
