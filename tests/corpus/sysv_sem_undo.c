// corpus: SysV semaphore undo adjustments (semop with SEM_UNDO) in the app's own IPC namespace: the parent's and a child's undo lists are saved and rebuilt; after the restore the child exits and the parent checks the values its undo produced (one clamped at 0), then the parent applies its own list (unshare(CLONE_SYSVSEM), as its exit would) and checks those
// expect: exact
#include "corpus.h"
#include <sched.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>

static int id;
static long sum;

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

// Each step takes and gives back a unit with SEM_UNDO: the list changes
// during the window the checkpoint lands in, and ends as it began.
static void step(int i) {
	sum += i;
	op(0, 1, SEM_UNDO);
	op(0, -1, SEM_UNDO);
}

int main(void) {
	id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
	if (id < 0)
		die("semget");
	// Parent: value 0 = 2 (adjustment -2); value 1 = 5 - 1 (adjustment +1).
	op(0, 2, SEM_UNDO);
	op(1, 5, 0);
	op(1, -1, SEM_UNDO);
	int ready[2], go[2];
	if (pipe(ready) < 0 || pipe(go) < 0)
		die("pipe");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		// Child: value 2 = 3 (adjustment -3), value 1 -= 2 (adjustment +2).
		op(2, 3, SEM_UNDO);
		op(1, -2, SEM_UNDO);
		char c = 0;
		if (write(ready[1], &c, 1) != 1)
			_exit(2);
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(corpus_failures[0] ? 1 : 0); // its undo list applies now
	}
	char c;
	if (read(ready[0], &c, 1) != 1)
		die("read ready");
	op(2, -1, 0); // value 2 = 2 < 3: the child's exit clamps it at 0
	expect("set up", 2, 2, 2);
	running("sysv_sem_undo");
	work(step);
	expect("after the work", 2, 2, 2);
	if (write(go[1], &c, 1) != 1)
		die("write go");
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("child status %#x", st);
	expect("after the child's exit", 2, 4, 0);
	if (unshare(CLONE_SYSVSEM) < 0)
		die("unshare(CLONE_SYSVSEM)");
	expect("after the parent's own undo", 0, 5, 0);
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	semctl(id, 0, IPC_RMID);
	return finish();
}
