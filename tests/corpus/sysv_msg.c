// corpus: SysV message queues in the app's own IPC namespace: messages of several types and sizes queued at the checkpoint, received after restore in order and by type; id, key, mode and room (msg_qbytes) checked
// expect: exact
#include "corpus.h"
#include <sys/ipc.h>
#include <sys/msg.h>

#define KEY 0x3e5a0002

struct msg {
	long type;
	char text[512];
};

static int q, q2;
static long sum;

static void step(int i) {
	sum += i;
	if (i % 10 == 0) { // messages keep coming while the checkpoint may land
		struct msg m = {.type = 100 + i / 10};
		int n = snprintf(m.text, sizeof m.text, "step %d", i);
		if (msgsnd(q2, &m, n, IPC_NOWAIT) < 0)
			fail("msgsnd step %d: %s", i, strerror(errno));
	}
}

int main(void) {
	q = msgget(KEY, IPC_CREAT | IPC_EXCL | 0620);
	if (q < 0)
		die("msgget");
	q2 = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (q2 < 0)
		die("msgget private");
	struct msqid_ds ds;
	if (msgctl(q, IPC_STAT, &ds) < 0)
		die("IPC_STAT");
	ds.msg_qbytes = 9000;
	if (msgctl(q, IPC_SET, &ds) < 0)
		die("IPC_SET qbytes");
	for (int i = 0; i < 12; i++) {
		struct msg m = {.type = 1 + i % 3};
		int n = i * 37 % 500;
		for (int j = 0; j < n; j++)
			m.text[j] = (char)(i + j);
		if (msgsnd(q, &m, n, IPC_NOWAIT) < 0)
			die("msgsnd");
	}
	running("sysv_msg");
	work(step);
	if (msgget(KEY, 0) != q)
		fail("key gives id %d, not %d", msgget(KEY, 0), q);
	if (msgctl(q, IPC_STAT, &ds) < 0)
		fail("IPC_STAT: %s", strerror(errno));
	else if (ds.msg_qnum != 12 || ds.msg_qbytes != 9000 || (ds.msg_perm.mode & 0777) != 0620)
		fail("queue: %lu messages, qbytes %lu, mode %o", (unsigned long)ds.msg_qnum, (unsigned long)ds.msg_qbytes, ds.msg_perm.mode);
	struct msg m;
	// type 2 first: messages 1, 4, 7, 10 in order
	for (int i = 1; i < 12; i += 3) {
		ssize_t n = msgrcv(q, &m, sizeof m.text, 2, IPC_NOWAIT);
		if (n != i * 37 % 500 || m.type != 2)
			fail("type 2 message %d: %zd bytes type %ld", i, n, m.type);
		for (int j = 0; j < n; j++)
			if (m.text[j] != (char)(i + j)) {
				fail("message %d byte %d", i, j);
				break;
			}
	}
	for (int i = 0; i < 12; i++) {
		if (i % 3 == 1)
			continue;
		ssize_t n = msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT);
		if (n != i * 37 % 500 || m.type != 1 + i % 3)
			fail("message %d: %zd bytes type %ld", i, n, m.type);
	}
	for (int i = 0; i < 150; i += 10) {
		ssize_t n = msgrcv(q2, &m, sizeof m.text - 1, 0, IPC_NOWAIT);
		char want[32];
		snprintf(want, sizeof want, "step %d", i);
		if (n < 0 || m.type != 100 + i / 10 || (size_t)n != strlen(want) || memcmp(m.text, want, n))
			fail("private queue message %d: %zd bytes type %ld", i, n, m.type);
	}
	if (msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT) >= 0 || msgrcv(q2, &m, sizeof m.text, 0, IPC_NOWAIT) >= 0)
		fail("messages left over");
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	msgctl(q, IPC_RMID, NULL);
	msgctl(q2, IPC_RMID, NULL);
	return finish();
}
