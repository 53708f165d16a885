// corpus: a thread cloned without CLONE_SYSVSEM does not share its process's SEM_UNDO list (a restore would make it share one): the checkpoint is refused naming the thread
// expect: refuse do not share the process's SEM_UNDO list
// status: blind the sharing is found by semops injected in the frozen threads (the undo list has no other interface), which status does not make
#include "corpus.h"
#include <sched.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>

static int id;
static long sum;
static volatile int stop, done;
static char stack[64 << 10] __attribute__((aligned(16)));

static void step(int i) { sum += i; }

// Raw syscalls only: the thread has no TLS of its own.
static int thread(void *arg) {
	(void)arg;
	struct timespec ts = {0, 5000000};
	while (!stop)
		syscall(SYS_nanosleep, &ts, NULL);
	done = 1;
	syscall(SYS_exit, 0);
	return 0;
}

int main(void) {
	id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (id < 0)
		die("semget");
	struct sembuf op = {0, 2, SEM_UNDO};
	if (semop(id, &op, 1) < 0)
		die("semop");
	if (clone(thread, stack + sizeof stack, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD, NULL) < 0)
		die("clone");
	running("sysv_sem_undo_clone");
	work(step);
	stop = 1;
	while (!done)
		sleep_ms(1);
	if (semctl(id, 0, GETVAL) != 2)
		fail("value %d", semctl(id, 0, GETVAL));
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	semctl(id, 0, IPC_RMID);
	return finish();
}
