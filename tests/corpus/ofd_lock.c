// corpus: OFD locks (F_OFD_SETLK) shared by a forked child through the description
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
		if (failures[0])
			fprintf(stderr, "ofd_lock: child: %s\n", failures);
		_exit(failures[0] != 0);
	}
	fprintf(stderr, "ofd_lock: running\n");
	for (int i = 0; i < 150; i++)
		sleep_ms(10);
	check("parent", fd);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child's check failed");
	return finish();
}
