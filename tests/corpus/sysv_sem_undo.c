// corpus: a semop with SEM_UNDO in the app's own IPC namespace: the kernel's undo adjustment cannot be read back, so the checkpoint is refused naming the call
// expect: refuse SEM_UNDO): the undo adjustment cannot be saved
#include "corpus.h"
#include <sys/ipc.h>
#include <sys/sem.h>

static long sum;

static void step(int i) { sum += i; }

int main(void) {
	int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	if (id < 0)
		die("semget");
	struct sembuf op = {1, 2, SEM_UNDO};
	if (semop(id, &op, 1) < 0)
		die("semop");
	running("sysv_sem_undo");
	work(step);
	if (semctl(id, 1, GETVAL) != 2)
		fail("value %d", semctl(id, 1, GETVAL));
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	semctl(id, 0, IPC_RMID);
	return finish();
}
