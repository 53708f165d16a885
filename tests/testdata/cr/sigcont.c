// sigcont: a blocked SIGCONT stays pending through a keep-running
// checkpoint and a restore. The checkpoint's batched queries end with the
// thread sending itself SIGSTOP, which would discard a pending SIGCONT:
// crrun must inject them one by one instead (checkpoint/queries.go).
// Prints PASS after 3 s if SIGCONT was pending all along, FAIL at once if
// it vanished.
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
	sigset_t s, p;
	sigemptyset(&s);
	sigaddset(&s, SIGCONT);
	if (sigprocmask(SIG_BLOCK, &s, NULL) || kill(getpid(), SIGCONT)) {
		printf("FAIL: set-up\n");
		return 1;
	}
	fprintf(stderr, "sigcont: pid=%d\n", (int)getpid());
	fprintf(stderr, "sigcont: running\n");
	for (int i = 0; i < 60; i++) {
		usleep(50000);
		sigpending(&p);
		if (!sigismember(&p, SIGCONT)) {
			printf("FAIL: SIGCONT no longer pending after %d ms\n", i * 50);
			fflush(stdout);
			return 1;
		}
	}
	fprintf(stderr, "sigcont: end pid=%d\n", (int)getpid());
	printf("PASS\n");
	return 0;
}
