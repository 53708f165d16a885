// corpus: descriptors on /proc files (the process's own status, /proc/self/stat, /proc/meminfo) read at an offset
// expect: exact
#include "corpus.h"
#include <sys/wait.h>

/* fds on procfs: the process's own /proc/PID/status (opened through
 * /proc/self), /proc/PID/stat and /proc/meminfo, each read partly so it has
 * an offset. procfs files have no stable size or mtime: they must be
 * reopened by path, never compared. After the restore each still names the
 * same kind of file of the same process (Pid: line, the pid in stat) and
 * reads on from its offset. A child does the same with its own
 * /proc/self/status and forks a grandchild that shares that description:
 * the grandchild moves the shared offset, the child sees it moved. */

/* child: its own status file, shared with a grandchild. */
static int child(void) {
	int cs = open("/proc/self/status", O_RDONLY);
	char b[8192];
	if (cs < 0 || read(cs, b, 5) != 5)
		return 2;
	pid_t me = getpid(), g = fork();
	if (g < 0)
		return 3;
	if (g == 0) {
		work(NULL);
		int bad = lseek(cs, 0, SEEK_CUR) != 5;
		lseek(cs, 7, SEEK_SET);
		_exit(bad ? 4 : 0);
	}
	work(NULL);
	int st;
	if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st))
		return 5;
	if (lseek(cs, 0, SEEK_CUR) != 7)
		return 6; /* not shared with the grandchild any more */
	lseek(cs, 0, SEEK_SET);
	int k = read(cs, b, sizeof b - 1);
	b[k < 0 ? 0 : k] = 0;
	char want[32];
	snprintf(want, sizeof want, "\nPid:\t%d\n", me);
	return strstr(b, want) ? 0 : 7;
}

static int pread_all(int fd, char *b, int n) {
	int k = read(fd, b, n - 1);
	b[k < 0 ? 0 : k] = 0;
	return k;
}

int main(void) {
	int st = open("/proc/self/status", O_RDONLY);
	int sp = open("/proc/self/stat", O_RDONLY);
	int mi = open("/proc/meminfo", O_RDONLY);
	if (st < 0 || sp < 0 || mi < 0)
		die("open /proc");
	char b[8192];
	if (read(st, b, 5) != 5 || strncmp(b, "Name:", 5) || read(mi, b, 9) != 9 || strncmp(b, "MemTotal:", 9))
		die("first read");
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0)
		_exit(child());
	running("proc_fd");
	work(NULL);
	if (lseek(st, 0, SEEK_CUR) != 5 || lseek(mi, 0, SEEK_CUR) != 9)
		fail("offsets %ld %ld, want 5 9", (long)lseek(st, 0, SEEK_CUR), (long)lseek(mi, 0, SEEK_CUR));
	pread_all(st, b, sizeof b);
	char want[32];
	snprintf(want, sizeof want, "\nPid:\t%d\n", getpid());
	if (!strstr(b, want))
		fail("status fd no longer names this process (%s)", want + 1);
	lseek(sp, 0, SEEK_SET);
	pread_all(sp, b, sizeof b);
	if (atoi(b) != getpid())
		fail("stat fd names pid %d", atoi(b));
	pread_all(mi, b, sizeof b);
	if (strncmp(b, " ", 1) || !strstr(b, "MemFree:"))
		fail("meminfo did not read on from its offset: %.20s", b);
	int cst;
	if (waitpid(c, &cst, 0) != c || !WIFEXITED(cst) || WEXITSTATUS(cst))
		fail("the child's own /proc/self/status fd failed its check (%#x)", cst);
	return finish();
}
