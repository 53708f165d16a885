// corpus: a child made by clone3 with CLONE_SYSVSEM (not a thread) shares its parent's SEM_UNDO list, which no trap sees (clone3's flags are in memory): the checkpoint finds the sharing through the list itself and refuses naming both processes
// expect: refuse share its SEM_UNDO list
// status: blind the sharing is found by semops injected in the frozen processes (the undo list has no other interface), which status does not make
#include "corpus.h"
#include <linux/sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int id;
static long sum;

static void step(int i) { sum += i; }

int main(void) {
	id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (id < 0)
		die("semget");
	struct sembuf op = {0, 2, SEM_UNDO};
	if (semop(id, &op, 1) < 0)
		die("semop");
	int go[2];
	if (pipe(go) < 0)
		die("pipe");
	struct clone_args ca;
	memset(&ca, 0, sizeof ca);
	ca.flags = CLONE_SYSVSEM;
	ca.exit_signal = SIGCHLD;
	long child = syscall(SYS_clone3, &ca, sizeof ca);
	if (child < 0)
		die("clone3");
	if (child == 0) {
		char c;
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0); // the shared list stays with the parent
	}
	running("sysv_sem_undo_clone3");
	work(step);
	char c = 0;
	if (write(go[1], &c, 1) != 1)
		die("write");
	int st;
	if (waitpid((pid_t)child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("child status %#x", st);
	if (semctl(id, 0, GETVAL) != 2)
		fail("value %d after the child's exit, want 2 (the list is shared)", semctl(id, 0, GETVAL));
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	semctl(id, 0, IPC_RMID);
	return finish();
}
