// corpus: POSIX message queues in the app's own IPC namespace: a queue shared by a parent (O_NONBLOCK reader) and its child (writer), with messages of several priorities queued at the checkpoint; a second queue closed by everyone but kept, with its mode; attributes, order and contents checked after restore
// expect: exact
#include "corpus.h"
#include <mqueue.h>
#include <sys/stat.h>
#include <sys/wait.h>

static mqd_t q;
static long sum;

static void step(int i) { sum += i; }

int main(void) {
	struct mq_attr a = {.mq_maxmsg = 8, .mq_msgsize = 128};
	q = mq_open("/crrun-corpus-q", O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK, 0640, &a);
	if (q == (mqd_t)-1)
		die("mq_open");
	struct mq_attr b = {.mq_maxmsg = 3, .mq_msgsize = 16};
	mqd_t k = mq_open("/crrun-corpus-kept", O_CREAT | O_EXCL | O_WRONLY, 0604, &b);
	if (k == (mqd_t)-1)
		die("mq_open kept");
	if (mq_send(k, "kept", 4, 7) < 0)
		die("mq_send kept");
	mq_close(k);
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) { // the writer: 6 messages, priorities 0..2
		mqd_t w = mq_open("/crrun-corpus-q", O_WRONLY);
		if (w == (mqd_t)-1)
			_exit(1);
		for (int i = 0; i < 6; i++) {
			char m[64];
			int n = snprintf(m, sizeof m, "message %d of priority %d", i, i % 3);
			if (mq_send(w, m, n, i % 3) < 0)
				_exit(2);
		}
		_exit(0);
	}
	int st;
	if (waitpid(c, &st, 0) != c || st != 0)
		die("writer");
	running("posix_mq");
	work(step);
	struct mq_attr got;
	if (mq_getattr(q, &got) < 0)
		fail("mq_getattr: %s", strerror(errno));
	else if (got.mq_maxmsg != 8 || got.mq_msgsize != 128 || got.mq_curmsgs != 6 || !(got.mq_flags & O_NONBLOCK))
		fail("attrs: maxmsg %ld msgsize %ld curmsgs %ld flags %#lx", got.mq_maxmsg, got.mq_msgsize, got.mq_curmsgs, got.mq_flags);
	// priority 2 first (2, 5), then 1 (1, 4), then 0 (0, 3)
	int order[6] = {2, 5, 1, 4, 0, 3};
	for (int j = 0; j < 6; j++) {
		char m[128], want[64];
		unsigned prio;
		ssize_t n = mq_receive(q, m, sizeof m, &prio);
		int i = order[j];
		int wn = snprintf(want, sizeof want, "message %d of priority %d", i, i % 3);
		if (n != wn || memcmp(m, want, n) || prio != (unsigned)(i % 3))
			fail("receive %d: %zd bytes, priority %u", j, n, prio);
	}
	char m[128];
	if (mq_receive(q, m, sizeof m, NULL) >= 0 || errno != EAGAIN)
		fail("the queue is not empty (or blocks)");
	mqd_t k2 = mq_open("/crrun-corpus-kept", O_RDONLY);
	if (k2 == (mqd_t)-1)
		fail("the kept queue is gone: %s", strerror(errno));
	else {
		struct stat s;
		unsigned prio;
		if (fstat(k2, &s) < 0 || (s.st_mode & 0777) != 0604 || s.st_uid != getuid())
			fail("kept queue: mode %o uid %d", s.st_mode, s.st_uid);
		if (mq_getattr(k2, &got) < 0 || got.mq_maxmsg != 3 || got.mq_msgsize != 16 || got.mq_curmsgs != 1)
			fail("kept queue attrs");
		ssize_t n = mq_receive(k2, m, sizeof m, &prio);
		if (n != 4 || memcmp(m, "kept", 4) || prio != 7)
			fail("kept message: %zd bytes priority %u", n, prio);
		mq_close(k2);
	}
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	mq_close(q);
	mq_unlink("/crrun-corpus-q");
	mq_unlink("/crrun-corpus-kept");
	return finish();
}
