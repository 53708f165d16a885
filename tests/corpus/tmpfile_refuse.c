// corpus: an O_TMPFILE file (never named) held open, later linked into the file system with linkat, as atomic-write code does: its flag and linkability cannot be made again, so crrun refuses (before: accepted, and the restore failed with ENOTDIR)
// expect: refuse was opened with O_TMPFILE
#include "corpus.h"
#include <sys/stat.h>

int main(void) {
	char dir[] = "/tmp/corpus-tmpfile-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	int fd = open(dir, O_TMPFILE | O_RDWR, 0640);
	if (fd < 0)
		die("open O_TMPFILE");
	if (write(fd, "tmpfile content\n", 16) != 16)
		die("write");
	running("tmpfile_refuse");
	work(NULL);
	char final[128], proc[64];
	snprintf(final, sizeof final, "%s/final", dir);
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	/* linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc
	 * link with AT_SYMLINK_FOLLOW is what unprivileged code uses. */
	if (linkat(AT_FDCWD, proc, AT_FDCWD, final, AT_SYMLINK_FOLLOW))
		fail("linkat the O_TMPFILE file: %s", strerror(errno));
	struct stat a, b;
	if (fstat(fd, &a) || stat(final, &b) || a.st_ino != b.st_ino)
		fail("the linked name is another inode");
	char buf[32] = {0};
	int f2 = open(final, O_RDONLY);
	if (f2 < 0 || read(f2, buf, sizeof buf) != 16 || strcmp(buf, "tmpfile content\n"))
		fail("content %s", buf);
	if ((b.st_mode & 07777) != 0640)
		fail("mode %o", b.st_mode & 07777);
	unlink(final);
	rmdir(dir);
	return finish();
}
