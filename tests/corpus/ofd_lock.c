// corpus: OFD locks (F_OFD_SETLK) shared by a forked child through the description
// expect: exact
#include "locks.h"
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

/* A write OFD lock on [0,9] and a read one on [100, EOF), taken before a
 * fork: the child holds them too (one description). After ~1.5 s both see
 * them in their fdinfo (OFDLCK, pid -1), and F_OFD_GETLK through a new
 * description of the file (a different owner, even in the same process)
 * conflicts with each; the child's own POSIX lock query agrees. */

static void check(const char *who, int fd) {
	if (!has_lock(fd, "OFDLCK", "WRITE", -1, "0 9"))
		fail("%s: no OFD write lock [0,9] in fdinfo", who);
	if (!has_lock(fd, "OFDLCK", "READ", -1, "100 EOF"))
		fail("%s: no OFD read lock [100,EOF) in fdinfo", who);
	char buf[2048];
	if (fdinfo_locks(fd, buf, sizeof buf) != 2)
		fail("%s: fdinfo shows other locks: %s", who, buf);
	int other = open("ofd_lock.dat", O_RDWR);
	if (other < 0)
		die("open");
	struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
	if (fcntl(other, F_OFD_GETLK, &q) != 0 || q.l_type != F_WRLCK || q.l_pid != -1)
		fail("%s: F_OFD_GETLK [0,9]: type %d pid %d", who, q.l_type, q.l_pid);
	struct flock q2 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5000, .l_len = 1};
	if (fcntl(other, F_OFD_GETLK, &q2) != 0 || q2.l_type != F_RDLCK)
		fail("%s: F_OFD_GETLK [5000]: type %d", who, q2.l_type);
	struct flock q3 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 90};
	if (fcntl(other, F_OFD_GETLK, &q3) != 0 || q3.l_type != F_UNLCK)
		fail("%s: [10,99] is locked (type %d)", who, q3.l_type);
	close(other);
}

int main(void) {
	int fd = open("ofd_lock.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 200) != 0)
		die("create ofd_lock.dat");
	struct flock w = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
	struct flock r = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 0};
	if (fcntl(fd, F_OFD_SETLK, &w) != 0 || fcntl(fd, F_OFD_SETLK, &r) != 0)
		die("F_OFD_SETLK");
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		for (int i = 0; i < 150; i++)
			sleep_ms(10);
		check("child", fd);
		if (corpus_failures[0])
			fprintf(stderr, "ofd_lock: child: %s\n", corpus_failures);
		_exit(corpus_failures[0] != 0);
	}
	running("ofd_lock");
	for (int i = 0; i < 150; i++)
		sleep_ms(10);
	check("parent", fd);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child's check failed");
	return finish();
}
