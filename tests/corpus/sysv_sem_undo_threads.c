// corpus: a SEM_UNDO list shared by two threads (pthread: CLONE_SYSVSEM), read without applying it (the kernel's range check) and made again shared after the restore: the thread's exit applies nothing, the main thread's own undo (unshare(CLONE_SYSVSEM) once alone) applies both threads' adjustments
// expect: exact
// cflags: -pthread
#include "corpus.h"
#include <pthread.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/sem.h>

static int id;
static long sum;
static volatile int stop;

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

static void step(int i) {
	sum += i;
	op(2, 1, SEM_UNDO);
	op(2, -1, SEM_UNDO);
}

static void *thread(void *arg) {
	(void)arg;
	// Into the shared list: value 0 = 3 (adjustment -3 with the main
	// thread's -2), value 1 = 4 - 1 (adjustment +1).
	op(0, 1, SEM_UNDO);
	op(1, 4, 0);
	op(1, -1, SEM_UNDO);
	while (!stop)
		sleep_ms(5);
	return NULL;
}

int main(void) {
	id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
	if (id < 0)
		die("semget");
	op(0, 2, SEM_UNDO);
	pthread_t t;
	if (pthread_create(&t, NULL, thread, NULL) != 0)
		die("pthread_create");
	while (semctl(id, 1, GETVAL) != 3)
		sleep_ms(1);
	running("sysv_sem_undo_threads");
	work(step);
	stop = 1;
	pthread_join(t, NULL);
	expect("after the thread's exit", 3, 3, 0);
	if (unshare(CLONE_SYSVSEM) < 0)
		die("unshare(CLONE_SYSVSEM)");
	expect("after the list's undo", 0, 4, 0);
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	semctl(id, 0, IPC_RMID);
	return finish();
}
