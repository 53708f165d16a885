// corpus: SysV semaphores in the app's own IPC namespace: a keyed set of four with values, modes and id checked after restore, and a child blocked in semop until the parent posts after the restore
// expect: exact
#include "corpus.h"
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>

#define KEY 0x5e3a0001

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static int id, gate;
static long sum;

static void step(int i) {
	sum += i;
	struct sembuf op = {1, (short)(i % 3 == 0 ? 1 : 0), 0}; // sem 1 counts steps / 3
	if (op.sem_op && semop(id, &op, 1) < 0)
		fail("semop step %d: %s", i, strerror(errno));
}

int main(void) {
	id = semget(KEY, 4, IPC_CREAT | IPC_EXCL | 0640);
	if (id < 0)
		die("semget");
	unsigned short init[4] = {3, 0, 7, 32767};
	if (semctl(id, 0, SETALL, (union semun){.array = init}) < 0)
		die("SETALL");
	gate = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600); // value 0: the child waits on it
	if (gate < 0)
		die("semget gate");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		struct sembuf down = {0, -1, 0};
		while (semop(gate, &down, 1) < 0)
			if (errno != EINTR)
				_exit(3);
		_exit(semctl(id, 2, GETVAL) == 7 ? 0 : 1);
	}
	// the child is blocked (semzcnt/semncnt shows it) before the checkpoint may land
	for (int i = 0; i < 500 && semctl(gate, 0, GETNCNT) != 1; i++)
		sleep_ms(2);
	if (semctl(gate, 0, GETNCNT) != 1)
		die("the child does not wait");
	running("sysv_sem");
	work(step);
	if (semctl(gate, 0, GETNCNT) != 1)
		fail("waiters on the gate: %d, want 1", semctl(gate, 0, GETNCNT));
	struct sembuf up = {0, 1, 0};
	if (semop(gate, &up, 1) < 0)
		fail("post: %s", strerror(errno));
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("child status %#x", st);
	unsigned short got[4];
	if (semctl(id, 0, GETALL, (union semun){.array = got}) < 0)
		fail("GETALL: %s", strerror(errno));
	else if (got[0] != 3 || got[1] != 50 || got[2] != 7 || got[3] != 32767)
		fail("values %d %d %d %d", got[0], got[1], got[2], got[3]);
	struct semid_ds ds;
	if (semget(KEY, 0, 0) != id)
		fail("key gives id %d, not %d", semget(KEY, 0, 0), id);
	if (semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}) < 0)
		fail("IPC_STAT: %s", strerror(errno));
	else if (ds.sem_nsems != 4 || (ds.sem_perm.mode & 0777) != 0640 || ds.sem_perm.__key != KEY)
		fail("set: nsems %lu mode %o key %#x", (unsigned long)ds.sem_nsems, ds.sem_perm.mode, ds.sem_perm.__key);
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	semctl(id, 0, IPC_RMID);
	semctl(gate, 0, IPC_RMID);
	return finish();
}
