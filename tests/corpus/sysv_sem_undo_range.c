// corpus: a SEM_UNDO adjustment of -20000, beyond what the checkpoint can read without the kernel clamping it ([-16383, 16382]): refused naming the process and the set, checked without changing it (the app runs on, its undo intact)
// expect: refuse is outside [-16383, 16382]: too large to read
#include "corpus.h"
#include <sched.h>
#include <sys/ipc.h>
#include <sys/sem.h>

static int id;
static long sum;

static void step(int i) { sum += i; }

int main(void) {
	id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (id < 0)
		die("semget");
	struct sembuf op = {0, 20000, SEM_UNDO};
	if (semop(id, &op, 1) < 0)
		die("semop");
	running("sysv_sem_undo_range");
	work(step);
	if (semctl(id, 0, GETVAL) != 20000)
		fail("value %d", semctl(id, 0, GETVAL));
	if (unshare(CLONE_SYSVSEM) < 0)
		die("unshare(CLONE_SYSVSEM)");
	if (semctl(id, 0, GETVAL) != 0)
		fail("value %d after the undo, want 0", semctl(id, 0, GETVAL));
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	semctl(id, 0, IPC_RMID);
	return finish();
}
