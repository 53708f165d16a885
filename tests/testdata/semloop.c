/* semloop: SEM_UNDO operations in a tight loop (+1, -1 on one semaphore),
 * for checkpoints that land while one is trapped (TestSysVSemUndoBusy).
 * It prints the value and its own undo's effect when stdin closes. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/sem.h>
#include <unistd.h>

int main(void) {
	int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (id < 0) {
		perror("semget");
		return 1;
	}
	struct sembuf seed = {0, 5, SEM_UNDO}, up = {0, 1, SEM_UNDO}, down = {0, -1, SEM_UNDO};
	if (semop(id, &seed, 1) < 0) {
		perror("semop");
		return 1;
	}
	fcntl(0, F_SETFL, O_NONBLOCK);
	fprintf(stderr, "semloop: ready\n");
	char c;
	while (read(0, &c, 1) < 0) {
		if (semop(id, &up, 1) < 0 || semop(id, &down, 1) < 0) {
			perror("semop");
			return 1;
		}
	}
	int v = semctl(id, 0, GETVAL);
	unshare(CLONE_SYSVSEM);
	printf("value %d, after the undo %d\n", v, semctl(id, 0, GETVAL));
	semctl(id, 0, IPC_RMID);
	return 0;
}
