/* semundo: a process whose SysV semaphore set of NSEMS semaphores it has
 * moved (with SEM_UNDO when UNDO is 1: adjustments -1..-7), with THREADS
 * threads, idle until killed. bench/semundo.sh measures the checkpoint
 * pause crrun spends on its undo list (docs/benchmarks.md, "SEM_UNDO"). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sem.h>
#include <unistd.h>

static void *idle(void *a) {
	(void)a;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: semundo NSEMS UNDO THREADS\n");
		return 2;
	}
	int n = atoi(argv[1]), undo = atoi(argv[2]), th = atoi(argv[3]);
	int id = semget(IPC_PRIVATE, n, IPC_CREAT | 0600);
	if (id < 0) {
		perror("semget");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct sembuf o = {(unsigned short)i, (short)(1 + i % 7), (short)(undo ? SEM_UNDO : 0)};
		if (semop(id, &o, 1) < 0) {
			perror("semop");
			return 1;
		}
	}
	for (int i = 1; i < th; i++) {
		pthread_t t;
		pthread_create(&t, NULL, idle, NULL);
	}
	fprintf(stderr, "ready\n");
	for (;;)
		pause();
}
