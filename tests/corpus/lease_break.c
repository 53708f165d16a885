// corpus: a lease being broken (a writer waits in open(2) for the holder to give it up)
// expect: refuse a lease being broken
#include "locks.h"
#include <signal.h>
#include <sys/wait.h>

/* The app holds a read lease; its child opens the file for writing and
 * blocks until the lease is given up (the kernel shows the lease BREAKING).
 * The holder gives it up only after ~1.5 s: a checkpoint in between must
 * be refused (a breaking lease cannot be taken again), and the app runs on:
 * the child's open succeeds, the lease is gone. */

static volatile sig_atomic_t sigio;
static void on_sigio(int s) { sigio = 1; }

int main(void) {
	int fd = open("lease_break.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create");
	close(fd);
	fd = open("lease_break.dat", O_RDONLY);
	signal(SIGIO, on_sigio);
	if (fd < 0 || fcntl(fd, F_SETLEASE, F_RDLCK) != 0)
		die("F_SETLEASE");
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		int w = open("lease_break.dat", O_WRONLY); /* waits for the break */
		_exit(w < 0);
	}
	for (int i = 0; i < 200 && !sigio; i++)
		sleep_ms(5);
	if (!sigio)
		fail("no SIGIO: the lease is not being broken");
	running("lease_break");
	work(NULL);
	if (fcntl(fd, F_GETLEASE) != F_UNLCK && !has_lock(fd, "LEASE", "READ", 0, NULL))
		fail("the lease is gone before it was given up");
	fcntl(fd, F_SETLEASE, F_UNLCK);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the writer's open failed");
	if (fcntl(fd, F_GETLEASE) != F_UNLCK)
		fail("the lease is still held");
	return finish();
}
