// corpus: a deleted name of a file that still has another link: the same inode after restore, not a copy
// expect: exact
// needs: root
#include "corpus.h"
#include <sys/stat.h>

int main(void) {
	char dir[] = "/tmp/corpus-dellink-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	char a[128], b[128];
	snprintf(a, sizeof a, "%s/a", dir);
	snprintf(b, sizeof b, "%s/b", dir);
	int fa = open(a, O_CREAT | O_RDWR, 0644);
	if (fa < 0 || write(fa, "one", 3) != 3)
		die("create a");
	close(fa);
	if (link(a, b))
		die("link");
	int fd = open(b, O_RDWR | O_APPEND);
	if (fd < 0)
		die("open b");
	if (unlink(b))
		die("unlink b");
	running("deleted_hardlink");
	work(NULL);
	struct stat sa, sf;
	if (stat(a, &sa) || fstat(fd, &sf))
		die("stat");
	if (sa.st_ino != sf.st_ino || sa.st_dev != sf.st_dev)
		fail("fd is inode %lu, the other link %lu: a copy", (unsigned long)sf.st_ino, (unsigned long)sa.st_ino);
	if (sf.st_nlink != 1)
		fail("nlink %ld, want 1", (long)sf.st_nlink);
	if (write(fd, "two", 3) != 3)
		fail("write: %s", strerror(errno));
	char buf[16] = {0};
	int r = open(a, O_RDONLY);
	if (r < 0 || read(r, buf, sizeof buf) != 6 || strcmp(buf, "onetwo"))
		fail("the other link reads \"%s\", want \"onetwo\"", buf);
	char got[256], want[256], fdl[64];
	snprintf(fdl, sizeof fdl, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(fdl, got, sizeof got - 1);
	got[n < 0 ? 0 : n] = 0;
	snprintf(want, sizeof want, "%s (deleted)", b);
	if (strcmp(got, want))
		fail("fd names %s, want %s", got, want);
	struct stat sd;
	if (stat(b, &sd) == 0)
		fail("the deleted name %s exists again", b);
	unlink(a);
	rmdir(dir);
	return finish();
}
