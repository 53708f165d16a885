// corpus: a read lease (F_SETLEASE) on a file the app owns
// expect: exact
#include "locks.h"
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

/* A read lease on lease.dat (owned by the app's user, so no CAP_LEASE is
 * needed). After ~1.5 s: F_GETLEASE says F_RDLCK, fdinfo shows LEASE ACTIVE
 * READ with our pid, the lease made us the description's owner (F_GETOWN)
 * and set O_ASYNC, and a read-only open by a helper child does not break it
 * while a write open (O_NONBLOCK) does: EWOULDBLOCK, and SIGIO comes. */

static volatile sig_atomic_t sigio;
static void on_sigio(int s) { sigio = 1; }

int main(void) {
	int fd = open("lease.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create");
	close(fd);
	fd = open("lease.dat", O_RDONLY);
	if (fd < 0)
		die("open");
	signal(SIGIO, on_sigio);
	if (fcntl(fd, F_SETLEASE, F_RDLCK) != 0)
		die("F_SETLEASE");
	running("lease");
	for (int i = 0; i < 150; i++)
		sleep_ms(10);
	if (fcntl(fd, F_GETLEASE) != F_RDLCK)
		fail("F_GETLEASE is %d", fcntl(fd, F_GETLEASE));
	if (!has_lock(fd, "LEASE", "READ", getpid(), NULL))
		fail("no LEASE READ of ours in fdinfo");
	if (fcntl(fd, F_GETOWN) != getpid())
		fail("F_GETOWN is %d, want %d", fcntl(fd, F_GETOWN), getpid());
	if (!(fcntl(fd, F_GETFL) & O_ASYNC))
		fail("O_ASYNC is not set");
	pid_t h = fork();
	if (h == 0) {
		int r = open("lease.dat", O_RDONLY | O_NONBLOCK);
		int w = open("lease.dat", O_WRONLY | O_NONBLOCK);
		_exit((r < 0) | (w >= 0 || errno != EWOULDBLOCK) << 1);
	}
	int st;
	waitpid(h, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("helper: read open failed or write open did not see the lease (%#x)", st);
	for (int i = 0; i < 300 && !sigio; i++)
		sleep_ms(10);
	if (!sigio)
		fail("no SIGIO for the lease break");
	fcntl(fd, F_SETLEASE, F_UNLCK);
	return finish();
}
