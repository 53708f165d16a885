// corpus: POSIX record locks (fcntl F_SETLK) of several processes on one file
// expect: exact
#include "corpus.h"
#include <sys/wait.h>

/* The parent holds a read lock on [0,99] and a write lock on [200,299];
 * child A, on its own description, a write lock on [400,499] and a read
 * lock on [500,549]; child B, through the descriptor it inherited (POSIX
 * locks are not inherited: it takes its own), a write lock from 600 to EOF.
 * After ~1.5 s each checks, through /proc/self/fdinfo and F_GETLK from a
 * helper child, that it holds exactly these. */

struct lk { int type; long start, end; }; /* end -1: EOF */

static void take(int fd, struct lk l) {
	struct flock f = {.l_type = l.type, .l_whence = SEEK_SET, .l_start = l.start,
			  .l_len = l.end < 0 ? 0 : l.end - l.start + 1};
	if (fcntl(fd, F_SETLK, &f) != 0)
		die("F_SETLK");
}

/* check compares fd's fdinfo lock lines with want[n] (owner: this process)
 * and asks a helper child what F_GETLK says about each range. */
static void check(const char *who, int fd, const struct lk *want, int n) {
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	if (!f) {
		fail("%s: fdinfo: %s", who, strerror(errno));
		return;
	}
	int got = 0;
	while (fgets(line, sizeof line, f)) {
		char cls[16], mode[16], type[16], end[24];
		int id, pid;
		long start;
		if (sscanf(line, "lock: %d: %15s %15s %15s %d %*s %ld %23s", &id, cls, mode, type, &pid, &start, end) != 7)
			continue;
		int ok = 0;
		for (int i = 0; i < n; i++) {
			long e = strcmp(end, "EOF") == 0 ? -1 : atol(end);
			if (strcmp(cls, "POSIX") == 0 && pid == getpid() && start == want[i].start && e == want[i].end &&
			    strcmp(type, want[i].type == F_WRLCK ? "WRITE" : "READ") == 0)
				ok = 1;
		}
		if (!ok)
			fail("%s: unexpected fdinfo lock: %.*s", who, (int)strcspn(line, "\n"), line);
		got++;
	}
	fclose(f);
	if (got != n)
		fail("%s: fdinfo shows %d locks, want %d", who, got, n);
	pid_t me = getpid(), h = fork();
	if (h < 0)
		die("fork");
	if (h == 0) {
		int bad = 0;
		for (int i = 0; i < n; i++) {
			struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = want[i].start,
					  .l_len = want[i].end < 0 ? 0 : want[i].end - want[i].start + 1};
			if (fcntl(fd, F_GETLK, &q) != 0 || q.l_type != want[i].type || q.l_pid != me)
				bad |= 1 << i;
		}
		_exit(bad);
	}
	int st;
	if (waitpid(h, &st, 0) != h || !WIFEXITED(st))
		fail("%s: helper died", who);
	else if (WEXITSTATUS(st))
		fail("%s: F_GETLK from another process disagrees (mask %#x)", who, WEXITSTATUS(st));
}

int main(void) {
	int fd = open("posix_locks.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 1000) != 0)
		die("create posix_locks.dat");
	struct lk mine[] = {{F_RDLCK, 0, 99}, {F_WRLCK, 200, 299}};
	struct lk a[] = {{F_WRLCK, 400, 499}, {F_RDLCK, 500, 549}};
	struct lk b[] = {{F_WRLCK, 600, -1}};
	take(fd, mine[0]);
	take(fd, mine[1]);
	int ready[2];
	if (pipe(ready) != 0)
		die("pipe");
	pid_t pa = fork();
	if (pa == 0) {
		int fa = open("posix_locks.dat", O_RDWR);
		if (fa < 0)
			die("open");
		take(fa, a[0]);
		take(fa, a[1]);
		write(ready[1], "a", 1);
		work(NULL);
		check("child A", fa, a, 2);
		if (corpus_failures[0])
			fprintf(stderr, "posix_locks: %s\n", corpus_failures);
		_exit(corpus_failures[0] ? 1 : 0);
	}
	pid_t pb = fork();
	if (pb == 0) {
		take(fd, b[0]);
		write(ready[1], "b", 1);
		work(NULL);
		check("child B", fd, b, 1);
		if (corpus_failures[0])
			fprintf(stderr, "posix_locks: %s\n", corpus_failures);
		_exit(corpus_failures[0] ? 1 : 0);
	}
	char c;
	for (int i = 0; i < 2; i++)
		if (read(ready[0], &c, 1) != 1)
			die("wait for the children");
	running("posix_locks");
	work(NULL);
	check("parent", fd, mine, 2);
	/* a range nobody locked is free */
	struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 100};
	pid_t h = fork();
	if (h == 0)
		_exit(fcntl(fd, F_GETLK, &q) != 0 || q.l_type != F_UNLCK);
	int st;
	waitpid(h, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("parent: [100,199] is locked");
	for (pid_t p = 0; (p = wait(&st)) > 0;)
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			fail("child %s failed", p == pa ? "A" : "B");
	return finish();
}
