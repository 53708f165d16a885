// corpus: threads waiting in sigsuspend, ppoll, pselect and epoll_pwait with a temporary signal mask; the mask each comes back to must be the one it had before the call
// expect: exact
#include "corpus.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>

static volatile sig_atomic_t got[4];
static pid_t tids[4];
static volatile int stop;

static void on_usr1(int s) {
	(void)s;
	pid_t me = (pid_t)syscall(SYS_gettid);
	for (int i = 0; i < 4; i++)
		if (tids[i] == me)
			got[i]++;
}

/* the mask every waiter keeps outside its call: USR1 (its wake-up) and
 * two signals no one sends, so that a mask lost or swapped shows */
static void base_mask(sigset_t *s) {
	sigemptyset(s);
	sigaddset(s, SIGUSR1);
	sigaddset(s, SIGRTMIN + 3);
	sigaddset(s, SIGWINCH);
}

static void *waiter(void *arg) {
	int kind = (int)(long)arg;
	tids[kind] = (pid_t)syscall(SYS_gettid);
	sigset_t base, during, now;
	base_mask(&base);
	pthread_sigmask(SIG_SETMASK, &base, NULL);
	during = base;
	sigdelset(&during, SIGUSR1); /* open for the wake-up only inside the call */
	sigaddset(&during, SIGUSR2);
	int ep = epoll_create1(0);
	long rounds = 0;
	while (!stop) {
		struct timespec ts = {0, 50 * 1000000L};
		switch (kind) {
		case 0:
			sigsuspend(&during);
			break;
		case 1:
			ppoll(NULL, 0, &ts, &during);
			break;
		case 2:
			pselect(0, NULL, NULL, NULL, &ts, &during);
			break;
		case 3:
			epoll_pwait(ep, &(struct epoll_event){0}, 1, 50, &during);
			break;
		}
		pthread_sigmask(SIG_SETMASK, NULL, &now);
		for (int s = 1; s < SIGRTMAX; s++)
			if (sigismember(&now, s) != sigismember(&base, s)) {
				fail("waiter %d after %ld rounds: signal %d %s in its mask", kind, rounds, s, sigismember(&now, s) ? "set" : "missing");
				return NULL;
			}
		rounds++;
	}
	return NULL;
}

int main(void) {
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t base;
	base_mask(&base);
	pthread_sigmask(SIG_SETMASK, &base, NULL); /* inherited by the waiters */
	pthread_t th[4];
	for (long i = 0; i < 4; i++)
		if (pthread_create(&th[i], NULL, waiter, (void *)i))
			die("pthread_create");
	for (int i = 0; i < 4; i++)
		while (!tids[i])
			sleep_ms(1);
	running("sigmask_wait");
	for (int i = 0; i < 150; i++) {
		sleep_ms(10);
		if (i % 10 == 0) /* wake one waiter now and then; the others sit in their calls */
			syscall(SYS_tgkill, getpid(), tids[(i / 10) % 4], SIGUSR1);
	}
	stop = 1;
	for (int i = 0; i < 4; i++)
		syscall(SYS_tgkill, getpid(), tids[i], SIGUSR1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		if (got[i] == 0)
			fail("waiter %d was never woken by SIGUSR1", i);
	sigset_t now;
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	if (!sigismember(&now, SIGRTMIN + 3) || !sigismember(&now, SIGUSR1))
		fail("the main thread's mask changed");
	printf("4 waiters done\n");
	return finish();
}
