// corpus: a SEM_UNDO list shared by two threads (pthread: CLONE_SYSVSEM): only every thread dropping it would apply it, and no call makes threads share one again, so the checkpoint is refused naming the process
// expect: refuse threads sharing a SEM_UNDO list
// cflags: -pthread
#include "corpus.h"
#include <pthread.h>
#include <sys/ipc.h>
#include <sys/sem.h>

static int id;
static long sum;
static volatile int stop;

static void step(int i) { sum += i; }

static void *idle(void *arg) {
	(void)arg;
	while (!stop)
		sleep_ms(5);
	return NULL;
}

int main(void) {
	id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (id < 0)
		die("semget");
	struct sembuf op = {0, 2, SEM_UNDO};
	if (semop(id, &op, 1) < 0)
		die("semop");
	pthread_t t;
	if (pthread_create(&t, NULL, idle, NULL) != 0)
		die("pthread_create");
	running("sysv_sem_undo_threads");
	work(step);
	stop = 1;
	pthread_join(t, NULL);
	if (semctl(id, 0, GETVAL) != 2)
		fail("value %d", semctl(id, 0, GETVAL));
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	semctl(id, 0, IPC_RMID);
	return finish();
}
