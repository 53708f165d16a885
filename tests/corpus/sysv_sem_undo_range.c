// corpus: SEM_UNDO adjustments far from 0 (-20000 twice, +30000), read without the kernel clamping them and made again where the value has no room for them in one step; after the restore the process's own undo (unshare(CLONE_SYSVSEM), as its exit would) clamps two values, at 0 and at SEMVMX
// expect: exact
#include "corpus.h"
#include <sched.h>
#include <sys/ipc.h>
#include <sys/sem.h>

static int id;
static long sum;

static void op(int num, int delta, int flags) {
	struct sembuf o = {(unsigned short)num, (short)delta, (short)flags};
	if (semop(id, &o, 1) < 0)
		fail("semop(%d, %d, %#x): %s", num, delta, flags, strerror(errno));
}

static void expect(const char *when, int v0, int v1, int v2) {
	int v[3] = {semctl(id, 0, GETVAL), semctl(id, 1, GETVAL), semctl(id, 2, GETVAL)};
	if (v[0] != v0 || v[1] != v1 || v[2] != v2)
		fail("%s: values %d %d %d, want %d %d %d", when, v[0], v[1], v[2], v0, v1, v2);
}

static void step(int i) { sum += i; }

int main(void) {
	id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
	if (id < 0)
		die("semget");
	op(0, 20000, SEM_UNDO); // 20000, adjustment -20000
	op(1, 20000, SEM_UNDO); // adjustment -20000,
	op(1, -4000, 0);        // value 16000: no room for 20000 either way
	op(2, 30000, 0);
	op(2, -30000, SEM_UNDO); // adjustment +30000,
	op(2, 5000, 0);          // value 5000
	expect("set up", 20000, 16000, 5000);
	running("sysv_sem_undo_range");
	work(step);
	expect("after the work", 20000, 16000, 5000);
	if (unshare(CLONE_SYSVSEM) < 0)
		die("unshare(CLONE_SYSVSEM)");
	expect("after the undo", 0, 0, 32767);
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	semctl(id, 0, IPC_RMID);
	return finish();
}
