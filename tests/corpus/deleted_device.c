// corpus: a deleted character device node held open (a private /dev/null)
// expect: exact
// needs: root
#include "corpus.h"
#include <sys/stat.h>
#include <sys/sysmacros.h>

int main(void) {
	char dir[] = "/tmp/corpus-deldev-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	char path[128];
	snprintf(path, sizeof path, "%s/null", dir);
	if (mknod(path, S_IFCHR | 0604, makedev(1, 3)))
		die("mknod");
	int fd = open(path, O_RDWR);
	if (fd < 0)
		die("open");
	if (unlink(path))
		die("unlink");
	struct stat want;
	if (fstat(fd, &want))
		die("fstat");
	running("deleted_device");
	work(NULL);
	struct stat st;
	if (fstat(fd, &st))
		die("fstat");
	if (st.st_mode != want.st_mode || st.st_rdev != want.st_rdev || st.st_nlink != 0)
		fail("mode %o rdev %d:%d nlink %ld, want %o %d:%d 0", st.st_mode, major(st.st_rdev), minor(st.st_rdev),
		     (long)st.st_nlink, want.st_mode, major(want.st_rdev), minor(want.st_rdev));
	if (write(fd, "x", 1) != 1)
		fail("write to the null device: %s", strerror(errno));
	char got[256], wantl[256], fdl[64];
	snprintf(fdl, sizeof fdl, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(fdl, got, sizeof got - 1);
	got[n < 0 ? 0 : n] = 0;
	snprintf(wantl, sizeof wantl, "%s (deleted)", path);
	if (strcmp(got, wantl))
		fail("fd names %s, want %s", got, wantl);
	rmdir(dir);
	return finish();
}
