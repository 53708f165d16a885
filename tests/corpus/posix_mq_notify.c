// corpus: a POSIX message queue with a notification registered (mq_notify): the registration cannot be made again by the restore, so the call's taint refuses the checkpoint
// expect: refuse CR: POSIX message queue notifications (mq_notify) not supported yet
#include "corpus.h"
#include <mqueue.h>
#include <signal.h>

static long sum;
static void step(int i) { sum += i; }

int main(void) {
	mqd_t q = mq_open("/crrun-corpus-notify", O_CREAT | O_EXCL | O_RDWR, 0600, NULL);
	if (q == (mqd_t)-1)
		die("mq_open");
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
	signal(SIGUSR2, SIG_IGN);
	if (mq_notify(q, &ev) < 0)
		die("mq_notify");
	running("posix_mq_notify");
	work(step);
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	mq_close(q);
	mq_unlink("/crrun-corpus-notify");
	return finish();
}
