// corpus: interval timers (ITIMER_REAL) and POSIX timers (CLOCK_MONOTONIC, periodic, signal with a value) keep firing at their period across a checkpoint
// expect: exact
#include "corpus.h"
#include <signal.h>
#include <sys/time.h>

static volatile sig_atomic_t alarms, ticks;
static void on_alarm(int s) { (void)s; alarms++; }
static void on_tick(int s, siginfo_t *si, void *c) { (void)s; (void)c; if (si->si_value.sival_int == 7) ticks++; }

int main(void) {
	signal(SIGALRM, on_alarm);
	struct sigaction sa = {0};
	sa.sa_sigaction = on_tick;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGRTMIN, &sa, NULL);
	struct itimerval it = {{0, 20000}, {0, 20000}};
	if (setitimer(ITIMER_REAL, &it, NULL)) die("setitimer");
	struct sigevent ev = {0};
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGRTMIN;
	ev.sigev_value.sival_int = 7;
	timer_t tm;
	if (timer_create(CLOCK_MONOTONIC, &ev, &tm)) die("timer_create");
	struct itimerspec ts = {{0, 30000000}, {0, 30000000}};
	if (timer_settime(tm, 0, &ts, NULL)) die("timer_settime");
	running("timers");
	int a0 = alarms, t0 = ticks;
	work(NULL);
	/* 1.5 s of work: ~75 alarms and ~50 ticks; a checkpoint costs a few */
	if (alarms - a0 < 30) fail("only %d SIGALRMs in the work loop", alarms - a0);
	if (ticks - t0 < 20) fail("only %d timer ticks in the work loop", ticks - t0);
	struct itimerval cur;
	getitimer(ITIMER_REAL, &cur);
	if (cur.it_interval.tv_usec != 20000) fail("itimer interval %ld us, want 20000", (long)cur.it_interval.tv_usec);
	struct itimerspec tcur;
	timer_gettime(tm, &tcur);
	if (tcur.it_interval.tv_nsec != 30000000) fail("POSIX timer interval %ld ns, want 30000000", tcur.it_interval.tv_nsec);
	return finish();
}
