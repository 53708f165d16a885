// corpus: a deleted FIFO held open, with bytes buffered in it
// expect: exact
#include "corpus.h"
#include <sys/stat.h>

int main(void) {
	char dir[] = "/tmp/corpus-delfifo-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	char path[128];
	snprintf(path, sizeof path, "%s/fifo", dir);
	if (mkfifo(path, 0620))
		die("mkfifo");
	int rw = open(path, O_RDWR | O_NONBLOCK);
	int wr = open(path, O_WRONLY);
	if (rw < 0 || wr < 0)
		die("open");
	if (write(wr, "hello", 5) != 5)
		die("write");
	if (unlink(path))
		die("unlink");
	struct stat want;
	if (fstat(rw, &want))
		die("fstat");
	running("deleted_fifo");
	work(NULL);
	struct stat st;
	if (fstat(rw, &st))
		die("fstat");
	if (!S_ISFIFO(st.st_mode) || st.st_mode != want.st_mode)
		fail("mode %o, want %o", st.st_mode, want.st_mode);
	if (st.st_uid != want.st_uid || st.st_gid != want.st_gid || st.st_nlink != 0)
		fail("owner %d:%d nlink %ld", st.st_uid, st.st_gid, (long)st.st_nlink);
	struct stat s2;
	if (fstat(wr, &s2) || s2.st_ino != st.st_ino || s2.st_dev != st.st_dev)
		fail("the two fds are not one FIFO");
	char got[256], wantl[256], fdl[64];
	snprintf(fdl, sizeof fdl, "/proc/self/fd/%d", rw);
	ssize_t n = readlink(fdl, got, sizeof got - 1);
	got[n < 0 ? 0 : n] = 0;
	snprintf(wantl, sizeof wantl, "%s (deleted)", path);
	if (strcmp(got, wantl))
		fail("fd names %s, want %s", got, wantl);
	if (write(wr, "!", 1) != 1)
		fail("write: %s", strerror(errno));
	char buf[16] = {0};
	if (read(rw, buf, sizeof buf) != 6 || strcmp(buf, "hello!"))
		fail("read \"%s\", want \"hello!\"", buf);
	rmdir(dir);
	return finish();
}
