// holdfile FILE: holds FILE open for reading across a checkpoint, then
// prints what it reads through that fd. Used by tests/trust_test.go: root
// restoring an ordinary user's image must not hand the app a file that
// user could not open.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: holdfile FILE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	fprintf(stderr, "holdfile: running\n");
	struct timespec ts = {0, 10 * 1000 * 1000};
	for (int i = 0; i < 300; i++)
		nanosleep(&ts, NULL);
	char buf[256];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n < 0) {
		printf("FAIL: pread: %s\n", strerror(errno));
		return 1;
	}
	buf[n] = 0;
	printf("read: %s", buf);
	printf("PASS\n");
	return 0;
}
