/* stdin_lines: reads its stdin (a regular file: `app < input`) one line
 * at a time with read(2) of one byte, so the file offset is exactly where
 * the next line starts, and writes "line N: <text>" for each to its stdout
 * (also a file in the test: `app > out.log`). A line out of sequence (a
 * restore that hands it another stdin or the wrong offset) is a failure.
 * Last line PASS or FAIL: why. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int get_line(char *buf, int n) {
	int k = 0;
	while (k < n - 1) {
		ssize_t r = read(0, buf + k, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (buf[k++] == '\n')
			break;
	}
	buf[k] = 0;
	return k;
}

int main(void) {
	struct stat st;
	if (fstat(0, &st) != 0 || !S_ISREG(st.st_mode)) {
		printf("FAIL: stdin is not a regular file\n");
		return 1;
	}
	fprintf(stderr, "stdin_lines: running\n");
	char buf[256];
	int n = 0, bad = 0;
	while (get_line(buf, sizeof buf) > 0) {
		n++;
		int got = atoi(buf + strcspn(buf, "0123456789"));
		if (got != n && !bad) {
			bad = n;
			printf("FAIL: line %d reads %s", n, buf);
		}
		printf("line %d: %s", n, buf);
		fflush(stdout);
		sleep_ms(10);
	}
	if (fstat(0, &st) != 0 || !S_ISREG(st.st_mode))
		bad = -1;
	off_t off = lseek(0, 0, SEEK_CUR);
	if (bad || n != 200 || off != st.st_size) {
		printf("FAIL: %d lines (want 200), first bad %d, offset %ld of %ld\n", n, bad, (long)off, (long)st.st_size);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
