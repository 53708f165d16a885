// corpus: a directory read halfway with getdents64 (a small buffer: the fd's position is mid-directory, a file system cookie); after the restore the reading goes on where it stopped, every name once (before: the position came back 0)
// expect: exact
#include "corpus.h"
#include <dirent.h>
#include <sys/syscall.h>

#define N 60

static int seen[N], extra;

static int take(int fd, int max) {
	char buf[256]; /* a few entries a call */
	int got = 0;
	while (max < 0 || got < max) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (n < 0)
			die("getdents64");
		if (n == 0)
			return got;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int i;
			if (sscanf(d->d_name, "f%d", &i) == 1 && i >= 0 && i < N)
				seen[i]++;
			else if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
				extra++;
			off += d->d_reclen;
			got++;
		}
	}
	return got;
}

int main(void) {
	char dir[] = "/tmp/corpus-dirpos-XXXXXX", f[128];
	if (!mkdtemp(dir))
		die("mkdtemp");
	for (int i = 0; i < N; i++) {
		snprintf(f, sizeof f, "%s/f%d", dir, i);
		close(open(f, O_CREAT | O_WRONLY, 0600));
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		die("open");
	take(fd, 20);
	if (lseek(fd, 0, SEEK_CUR) == 0)
		die("the position did not move");
	running("dir_position");
	work(NULL);
	take(fd, -1);
	for (int i = 0; i < N; i++)
		if (seen[i] != 1)
			fail("f%d seen %d times", i, seen[i]);
	if (extra)
		fail("%d unknown names", extra);
	for (int i = 0; i < N; i++) {
		snprintf(f, sizeof f, "%s/f%d", dir, i);
		unlink(f);
	}
	rmdir(dir);
	return finish();
}
