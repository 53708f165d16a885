// corpus: a process tree — a child in its own process group, a grandchild, a zombie not yet reaped, a child in a new session, each checking its ids
// expect: exact
#include "corpus.h"
#include <sys/wait.h>

int main(void) {
	pid_t zombie = fork();
	if (zombie == 0) _exit(7);
	pid_t grp = fork();
	if (grp == 0) {
		setpgid(0, 0);
		pid_t gc = fork();
		if (gc == 0) { sleep_ms(2500); _exit(getpgrp() == getppid() ? 0 : 9); }
		int st;
		waitpid(gc, &st, 0);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 10);
	}
	pid_t sess = fork();
	if (sess == 0) {
		pid_t s = setsid();
		sleep_ms(2500);
		_exit(getsid(0) == s && getpgrp() == s ? 0 : 11);
	}
	setpgid(grp, grp);
	sleep_ms(50);
	pid_t me = getpid(), mygrp = getpgrp(), mysid = getsid(0);
	running("proctree");
	work(NULL);
	if (getpid() != me || getpgrp() != mygrp || getsid(0) != mysid) fail("my ids changed");
	if (getpgid(grp) != grp) fail("child %d is in group %d, want its own", grp, getpgid(grp));
	if (getsid(sess) != sess) fail("child %d is in session %d, want its own", sess, getsid(sess));
	int st;
	if (waitpid(zombie, &st, WNOHANG) != zombie || !WIFEXITED(st) || WEXITSTATUS(st) != 7) fail("the zombie's status %#x, want exit 7", st);
	if (waitpid(grp, &st, 0) != grp || !WIFEXITED(st) || WEXITSTATUS(st) != 0) fail("group child ended %#x", st);
	if (waitpid(sess, &st, 0) != sess || !WIFEXITED(st) || WEXITSTATUS(st) != 0) fail("session child ended %#x", st);
	return finish();
}
