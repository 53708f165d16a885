// corpus: a file opened read-write whose mode the app then set to 000 (it keeps its fd): root's restore opens it again as root and is exact; an ordinary user's restore opens files as that user, so its checkpoint refuses (TestReopenChmodRefused; before: accepted, and the restore failed with EACCES)
// expect: exact
// needs: root
#include "corpus.h"
#include <sys/stat.h>

int main(void) {
	char path[] = "/tmp/corpus-chmod-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, "hello", 5) != 5 || fchmod(fd, 0))
		die("setup");
	running("reopen_chmod");
	work(NULL);
	if (write(fd, " world", 6) != 6)
		fail("write: %s", strerror(errno));
	char b[16] = {0};
	if (pread(fd, b, 11, 0) != 11 || strcmp(b, "hello world"))
		fail("content %s", b);
	unlink(path);
	return finish();
}
