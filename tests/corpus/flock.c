// corpus: flock(2) locks: exclusive and shared, one shared with a forked child
// expect: exact
#include "locks.h"
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

/* An exclusive flock on flock_a.dat taken before a fork (the child shares
 * the description, hence the lock), and a shared one the child takes on
 * flock_b.dat itself. After ~1.5 s: fdinfo shows FLOCK WRITE with the
 * parent's pid and FLOCK READ with the child's; a new description of each
 * file cannot take LOCK_EX (EWOULDBLOCK), and of b can take LOCK_SH. A
 * third lock, on flock_c.dat, was taken through the parent's description by
 * a child that has exited since: the kernel shows its taker as pid 0 (in a
 * pid namespace). */

int main(void) {
	int a = open("flock_a.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	int b = open("flock_b.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (a < 0 || b < 0)
		die("create");
	if (flock(a, LOCK_EX | LOCK_NB) != 0)
		die("flock(a, LOCK_EX)");
	int cf = open("flock_c.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (cf < 0)
		die("create");
	pid_t gone = fork();
	if (gone == 0)
		_exit(flock(cf, LOCK_EX | LOCK_NB) != 0);
	int gst;
	if (waitpid(gone, &gst, 0) != gone || !WIFEXITED(gst) || WEXITSTATUS(gst))
		die("flock(c) in a child");
	pid_t parent = getpid();
	int ready[2];
	if (pipe(ready) != 0)
		die("pipe");
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		int b2 = open("flock_b.dat", O_RDONLY);
		if (b2 < 0 || flock(b2, LOCK_SH | LOCK_NB) != 0)
			die("flock(b, LOCK_SH)");
		write(ready[1], "x", 1);
		for (int i = 0; i < 150; i++)
			sleep_ms(10);
		if (!has_lock(a, "FLOCK", "WRITE", parent, NULL))
			fail("child: no FLOCK WRITE of the parent on a");
		if (!has_lock(b2, "FLOCK", "READ", getpid(), NULL))
			fail("child: no FLOCK READ of its own on b");
		if (corpus_failures[0])
			fprintf(stderr, "flock: child: %s\n", corpus_failures);
		for (int i = 0; i < 30; i++)
			sleep_ms(10); /* hold b while the parent checks */
		_exit(corpus_failures[0] != 0);
	}
	char x;
	if (read(ready[0], &x, 1) != 1)
		die("wait for the child");
	running("flock");
	for (int i = 0; i < 150; i++)
		sleep_ms(10);
	if (!has_lock(a, "FLOCK", "WRITE", getpid(), NULL))
		fail("parent: no FLOCK WRITE on a in fdinfo");
	char buf[2048];
	if (fdinfo_locks(a, buf, sizeof buf) != 1)
		fail("parent: fdinfo of a: %s", buf);
	if (fdinfo_locks(b, buf, sizeof buf) != 0)
		fail("parent: fdinfo of b shows the child's lock on another description: %s", buf);
	/* pid 0 in a pid namespace (crrun's); outside one the number stays */
	if (fdinfo_locks(cf, buf, sizeof buf) != 1 || !has_lock(cf, "FLOCK", "WRITE", 0, NULL) ||
	    (!strstr(buf, "WRITE 0 ") && atoi(strstr(buf, "WRITE ") + 6) != gone))
		fail("parent: fdinfo of c (locked by a child gone since): %s", buf);
	int nc = open("flock_c.dat", O_RDONLY);
	if (flock(nc, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		fail("a new description of c could lock it");
	close(nc);
	int na = open("flock_a.dat", O_RDONLY), nb = open("flock_b.dat", O_RDONLY);
	if (flock(na, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		fail("a new description of a could lock it");
	if (flock(nb, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		fail("a new description of b could lock it exclusively");
	if (flock(nb, LOCK_SH | LOCK_NB) != 0)
		fail("a new description of b could not share its lock: %s", strerror(errno));
	close(na);
	close(nb);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child's check failed");
	return finish();
}
