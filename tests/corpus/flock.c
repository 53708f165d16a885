// corpus: flock(2) locks: exclusive and shared, one shared with a forked child
// expect: exact
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char failures[2048];
static void fail(const char *fmt, ...) {
	char b[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	size_t l = strlen(failures);
	snprintf(failures + l, sizeof failures - l, "%s%s", l ? "; " : "", b);
}
static void die(const char *what) {
	printf("FAIL: %s: %s\n", what, strerror(errno));
	exit(1);
}
static void sleep_ms(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
static int finish(void) {
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}

/* fdinfo_locks copies fd's "lock:" lines (without "lock:\tN: ") into buf,
 * one per line, and returns how many. */
static int fdinfo_locks(int fd, char *buf, size_t n) {
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	buf[0] = 0;
	if (!f)
		return -1;
	int k = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "lock:", 5) != 0)
			continue;
		char *p = strchr(line, ':');
		p = strchr(p + 1, ':') + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t l = strlen(buf);
		snprintf(buf + l, n - l, "%s", p);
		k++;
	}
	fclose(f);
	return k;
}

/* has_lock says whether fd's fdinfo shows a lock of class cls, type typ,
 * pid pid (0: any) and the range "start end" (NULL: any). */
static int has_lock(int fd, const char *cls, const char *typ, int pid, const char *range) {
	char buf[2048], *save = NULL;
	if (fdinfo_locks(fd, buf, sizeof buf) < 0)
		return 0;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char c[16], m[16], t[16], dev[64], s[24], e[24];
		int p;
		if (sscanf(l, "%15s %15s %15s %d %63s %23s %23s", c, m, t, &p, dev, s, e) != 7)
			continue;
		char r[64];
		snprintf(r, sizeof r, "%s %s", s, e);
		if (!strcmp(c, cls) && !strcmp(t, typ) && (pid == 0 || p == pid) && (!range || !strcmp(r, range)))
			return 1;
	}
	return 0;
}

/* An exclusive flock on flock_a.dat taken before a fork (the child shares
 * the description, hence the lock), and a shared one the child takes on
 * flock_b.dat itself. After ~1.5 s: fdinfo shows FLOCK WRITE with the
 * parent's pid and FLOCK READ with the child's; a new description of each
 * file cannot take LOCK_EX (EWOULDBLOCK), and of b can take LOCK_SH. */

int main(void) {
	int a = open("flock_a.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	int b = open("flock_b.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (a < 0 || b < 0)
		die("create");
	if (flock(a, LOCK_EX | LOCK_NB) != 0)
		die("flock(a, LOCK_EX)");
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
		if (failures[0])
			fprintf(stderr, "flock: child: %s\n", failures);
		for (int i = 0; i < 30; i++)
			sleep_ms(10); /* hold b while the parent checks */
		_exit(failures[0] != 0);
	}
	char x;
	if (read(ready[0], &x, 1) != 1)
		die("wait for the child");
	fprintf(stderr, "flock: running\n");
	for (int i = 0; i < 150; i++)
		sleep_ms(10);
	if (!has_lock(a, "FLOCK", "WRITE", getpid(), NULL))
		fail("parent: no FLOCK WRITE on a in fdinfo");
	char buf[2048];
	if (fdinfo_locks(a, buf, sizeof buf) != 1)
		fail("parent: fdinfo of a: %s", buf);
	if (fdinfo_locks(b, buf, sizeof buf) != 0)
		fail("parent: fdinfo of b shows the child's lock on another description: %s", buf);
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
