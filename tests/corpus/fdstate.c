// corpus: file descriptors — offsets shared by dup and not by a second open, O_APPEND, O_NONBLOCK, close-on-exec, a directory fd, /dev/null
// expect: exact
#include "corpus.h"
#include <dirent.h>
#include <sys/stat.h>

int main(void) {
	char path[] = "/tmp/corpus-fd-XXXXXX";
	int a = mkstemp(path);
	if (a < 0) die("mkstemp");
	if (write(a, "0123456789abcdef", 16) != 16) die("write");
	int b = dup(a);                                     /* shares a's offset */
	int c = open(path, O_RDONLY | O_CLOEXEC);           /* its own offset */
	int d = open(path, O_WRONLY | O_APPEND | O_NONBLOCK);
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	int null = open("/dev/null", O_WRONLY);
	if (b < 0 || c < 0 || d < 0 || dir < 0 || null < 0) die("open");
	lseek(a, 5, SEEK_SET);
	lseek(c, 11, SEEK_SET);
	fcntl(b, F_SETFD, FD_CLOEXEC);
	running("fdstate");
	work(NULL);
	if (lseek(b, 0, SEEK_CUR) != 5 || lseek(a, 0, SEEK_CUR) != 5) fail("dup'd offset %ld/%ld, want 5", (long)lseek(a, 0, SEEK_CUR), (long)lseek(b, 0, SEEK_CUR));
	lseek(a, 7, SEEK_SET);
	if (lseek(b, 0, SEEK_CUR) != 7) fail("a and b do not share their offset any more");
	if (lseek(c, 0, SEEK_CUR) != 11) fail("c's offset %ld, want 11", (long)lseek(c, 0, SEEK_CUR));
	if ((fcntl(d, F_GETFL) & (O_APPEND | O_NONBLOCK | O_ACCMODE)) != (O_APPEND | O_NONBLOCK | O_WRONLY)) fail("d's flags %#x", fcntl(d, F_GETFL));
	if (!(fcntl(c, F_GETFD) & FD_CLOEXEC) || !(fcntl(b, F_GETFD) & FD_CLOEXEC) || (fcntl(a, F_GETFD) & FD_CLOEXEC)) fail("close-on-exec flags changed");
	if (write(d, "Z", 1) != 1) fail("append write");
	struct stat st;
	fstat(a, &st);
	if (st.st_size != 17) fail("size %ld after an append, want 17", (long)st.st_size);
	char buf[4];
	if (pread(c, buf, 1, 16) != 1 || buf[0] != 'Z') fail("appended byte not at the end");
	fstat(dir, &st);
	if (!S_ISDIR(st.st_mode)) fail("dir fd is not a directory");
	if (write(null, "x", 1) != 1) fail("/dev/null: %s (flags %#x)", strerror(errno), fcntl(null, F_GETFL));
	unlink(path);
	return finish();
}
