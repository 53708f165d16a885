// corpus: a read lease (F_SETLEASE) on a file the app owns
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
	fprintf(stderr, "lease: running\n");
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
	for (int i = 0; i < 100 && !sigio; i++)
		sleep_ms(10);
	if (!sigio)
		fail("no SIGIO for the lease break");
	fcntl(fd, F_SETLEASE, F_UNLCK);
	return finish();
}
