// corpus: signal dispositions (handler with SA_RESTART/SA_SIGINFO and a mask, SIG_IGN), the blocked mask, a pending signal, an alternate stack
// expect: exact
#include "corpus.h"
#include <signal.h>

static volatile sig_atomic_t got_usr1, got_rt;
static void on_usr1(int s) { (void)s; got_usr1++; }
static void on_rt(int s, siginfo_t *si, void *c) { (void)s; (void)c; if (si->si_value.sival_int == 42) got_rt++; }
static char altstack[65536];

int main(void) {
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaddset(&sa.sa_mask, SIGUSR2);
	if (sigaction(SIGUSR1, &sa, NULL)) die("sigaction USR1");
	struct sigaction rt = {0};
	rt.sa_sigaction = on_rt;
	rt.sa_flags = SA_SIGINFO | SA_ONSTACK;
	if (sigaction(SIGRTMIN + 3, &rt, NULL)) die("sigaction RT");
	signal(SIGHUP, SIG_IGN);
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
	if (sigaltstack(&ss, NULL)) die("sigaltstack");
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 3);
	sigaddset(&block, SIGWINCH);
	if (sigprocmask(SIG_BLOCK, &block, NULL)) die("sigprocmask");
	union sigval v = {.sival_int = 42};
	if (sigqueue(getpid(), SIGRTMIN + 3, v)) die("sigqueue");
	running("signals");
	work(NULL);
	struct sigaction cur;
	sigaction(SIGUSR1, NULL, &cur);
	if (cur.sa_handler != on_usr1 || !(cur.sa_flags & SA_RESTART) || !sigismember(&cur.sa_mask, SIGUSR2))
		fail("SIGUSR1 disposition changed (handler %p flags %#x)", (void *)cur.sa_handler, cur.sa_flags);
	sigaction(SIGHUP, NULL, &cur);
	if (cur.sa_handler != SIG_IGN)
		fail("SIGHUP is not ignored any more");
	stack_t now;
	sigaltstack(NULL, &now);
	if (now.ss_sp != altstack || now.ss_size != sizeof altstack)
		fail("alternate stack %p/%zu, want %p/%zu", now.ss_sp, now.ss_size, (void *)altstack, sizeof altstack);
	sigset_t cur_mask, pend;
	sigprocmask(SIG_BLOCK, NULL, &cur_mask);
	if (!sigismember(&cur_mask, SIGRTMIN + 3) || !sigismember(&cur_mask, SIGWINCH) || sigismember(&cur_mask, SIGUSR1))
		fail("blocked mask changed");
	sigpending(&pend);
	if (!sigismember(&pend, SIGRTMIN + 3))
		fail("the queued real-time signal is not pending any more");
	kill(getpid(), SIGUSR1);
	if (got_usr1 != 1)
		fail("SIGUSR1 handler ran %d times, want 1", (int)got_usr1);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	if (got_rt != 1)
		fail("the queued signal arrived %d times with its value, want 1", (int)got_rt);
	return finish();
}
