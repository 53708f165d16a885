// appendlog: appends numbered lines to a file opened with O_APPEND, one line
// per write(2), one every few milliseconds; at the end it reads the file back
// and checks that it holds exactly lines 0..COUNT-1, in order, once each.
//
//	appendlog PATH [COUNT [INTERVAL_MS]]
//
// A checkpoint taken while it runs, the program then killed after appending
// more lines, and a restore: the restore must put the file back to its size
// at checkpoint time, or the lines appended after the checkpoint appear twice.
//
// stdout (deterministic): a header, 10 progress lines, a result line, then
// exactly "PASS" or "FAIL: <what>". stderr: "appendlog: pid=N", "appendlog:
// running", "appendlog: end pid=N".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_LEN 27

static void format_line(char *buf, long i) {
	// Fixed length: "line 000042 xxxxxxxxxxxxxx\n"
	snprintf(buf, LINE_LEN + 1, "line %06u %014lx\n", (unsigned)(i % 1000000), ((unsigned long)i * 0x9e3779b97f4a7c15UL) >> 8);
}

static void pause_ms(long ms) {
	struct timespec req = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&req, &req) != 0 && errno == EINTR)
		;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: appendlog PATH [COUNT [INTERVAL_MS]]\n");
		return 2;
	}
	const char *path = argv[1];
	long count = argc > 2 ? atol(argv[2]) : 600;
	long interval = argc > 3 ? atol(argv[3]) : 5;
	pid_t pid = getpid();
	fprintf(stderr, "appendlog: pid=%d\n", (int)pid);
	printf("appendlog: count=%ld\n", count);
	fflush(stdout);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		printf("FAIL: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(stderr, "appendlog: running\n");
	char line[LINE_LEN + 8];
	for (long i = 0; i < count; i++) {
		format_line(line, i);
		if (write(fd, line, LINE_LEN) != LINE_LEN) {
			printf("FAIL: write line %ld: %s\n", i, strerror(errno));
			return 1;
		}
		if ((i + 1) % (count / 10 ? count / 10 : 1) == 0) {
			printf("appended %ld/%ld\n", i + 1, count);
			fflush(stdout);
		}
		pause_ms(interval);
	}
	fprintf(stderr, "appendlog: end pid=%d\n", (int)getpid());
	char failures[512] = "";
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size != count * LINE_LEN)
		snprintf(failures, sizeof failures, "the file has %lld bytes, want %ld (%ld lines)", (long long)st.st_size,
		         count * LINE_LEN, count);
	int flags = fcntl(fd, F_GETFL);
	if (!failures[0] && !(flags & O_APPEND))
		snprintf(failures, sizeof failures, "O_APPEND was lost (flags %#o)", flags);
	close(fd);
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("FAIL: reopen %s: %s\n", path, strerror(errno));
		return 1;
	}
	char got[256], want[LINE_LEN + 8];
	long n = 0;
	while (fgets(got, sizeof got, f)) {
		format_line(want, n);
		if (!failures[0] && strcmp(got, want) != 0)
			snprintf(failures, sizeof failures, "line %ld of the file is %.40s, want %.40s", n + 1, got, want);
		n++;
	}
	fclose(f);
	if (!failures[0] && n != count)
		snprintf(failures, sizeof failures, "the file has %ld lines, want %ld", n, count);
	if (!failures[0] && getpid() != pid)
		snprintf(failures, sizeof failures, "getpid() is %d, was %d", (int)getpid(), (int)pid);
	printf("result: lines=%ld\n", n);
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
