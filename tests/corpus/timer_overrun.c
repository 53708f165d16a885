// corpus: a POSIX timer whose last signal stood for several expiries (timer_getoverrun > 0): no interface sets the count, so the checkpoint refuses
// expect: refuse which no interface restores
// status: blind the overrun count is read by an injected timer_getoverrun, which needs the app frozen
#include "corpus.h"
#include <signal.h>
#include <time.h>

/* The timer's signal is blocked while a 1 ms periodic timer runs for 30 ms,
 * then taken with sigwaitinfo: it stood for ~29 expiries, and
 * timer_getoverrun says so until the next one is delivered. The signal stays
 * blocked (the timer's next signal waits, pending), so the count stays. A
 * restore would make it 0: the checkpoint must refuse, and the app runs on
 * unchanged. */
int main(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct sigevent ev = {0};
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGRTMIN;
	timer_t tm;
	if (timer_create(CLOCK_MONOTONIC, &ev, &tm))
		die("timer_create");
	struct itimerspec ts = {{0, 1000000}, {0, 1000000}};
	if (timer_settime(tm, 0, &ts, NULL))
		die("timer_settime");
	sleep_ms(30);
	siginfo_t si;
	if (sigwaitinfo(&set, &si) != SIGRTMIN)
		die("sigwaitinfo");
	int over = timer_getoverrun(tm);
	if (over < 1 || si.si_overrun != over)
		fail("overrun %d, si_overrun %d: want the same, > 0", over, si.si_overrun);
	running("timer_overrun");
	work(NULL);
	if (timer_getoverrun(tm) != over)
		fail("timer_getoverrun is %d, was %d", timer_getoverrun(tm), over);
	return finish();
}
