// corpus: a POSIX message queue removed (mq_unlink) while the app keeps it open: it can be neither listed nor opened again by name, so the checkpoint is refused naming the fd
// expect: refuse a POSIX message queue removed (mq_unlink) while open not supported yet
#include "corpus.h"
#include <mqueue.h>

static long sum;
static void step(int i) { sum += i; }

int main(void) {
	mqd_t q = mq_open("/crrun-corpus-unlinked", O_CREAT | O_EXCL | O_RDWR, 0600, NULL);
	if (q == (mqd_t)-1)
		die("mq_open");
	if (mq_send(q, "x", 1, 0) < 0 || mq_unlink("/crrun-corpus-unlinked") < 0)
		die("mq_send/mq_unlink");
	running("posix_mq_unlinked");
	work(step);
	char m[8192];
	if (mq_receive(q, m, sizeof m, NULL) != 1 || m[0] != 'x')
		fail("message");
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	return finish();
}
