// corpus: SysV IPC objects made and removed at once (Open MPI's start-up probe: shmget, shmat, IPC_RMID, shmdt; a semaphore set and a message queue likewise): no state left, no taint
// expect: exact
#include "corpus.h"
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

static long sum;

static void step(int i) { sum += i; }

int main(void) {
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (id < 0)
		die("shmget");
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		die("shmat");
	if (shmctl(id, IPC_RMID, NULL) < 0)
		die("shmctl(IPC_RMID)");
	p[0] = 1;
	if (shmdt(p) < 0)
		die("shmdt");
	int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (sem < 0 || semctl(sem, 0, IPC_RMID) < 0)
		die("semget/semctl(IPC_RMID)");
	int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (q < 0 || msgctl(q, IPC_RMID, NULL) < 0)
		die("msgget/msgctl(IPC_RMID)");
	running("sysv_probe");
	work(step);
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) == 0 || errno != EINVAL)
		fail("segment %d exists again", id);
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	return finish();
}
