/* restartee: a batch job for --restart-on-failure. It computes a chain of
 * hashes, one step every 10 ms, writing each step to OUT (a file it opened
 * itself: a restore truncates it back to its size at the checkpoint), and
 * prints the final hash and PASS on stdout at the end. Its output is the same
 * bytes however often it is killed and restored.
 *
 *   restartee OUT STEPS [CRASH_MARKER [EXIT_CODE]]
 *
 * With CRASH_MARKER: halfway through, if the marker file does not exist, it
 * creates it and raises SIGSEGV (the marker makes the crash happen once);
 * with EXIT_CODE too, it exits with that code instead of crashing, every
 * time it passes halfway (for "restarts exhausted"). With RESTARTEE_LINGER_MS
 * in the environment it waits that long between saying it will crash and
 * crashing (a checkpoint taken then holds the crash to come). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: restartee OUT STEPS [CRASH_MARKER [EXIT_CODE]]\n");
		return 2;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		printf("FAIL: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	long steps = atol(argv[2]);
	const char *marker = argc > 3 ? argv[3] : NULL;
	int code = argc > 4 ? atoi(argv[4]) : -1;
	uint64_t h = 1469598103934665603ULL;
	fprintf(stderr, "restartee: running\n");
	for (long i = 0; i < steps; i++) {
		if (marker && i == steps / 2) {
			if (code >= 0) {
				fprintf(stderr, "restartee: exiting %d at step %ld\n", code, i);
				return code;
			}
			if (access(marker, F_OK) != 0) {
				int m = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
				if (m >= 0)
					close(m);
				fprintf(stderr, "restartee: crashing at step %ld\n", i);
				const char *linger = getenv("RESTARTEE_LINGER_MS");
				if (linger)
					sleep_ms(atol(linger));
				raise(SIGSEGV);
			}
		}
		h = (h ^ (uint64_t)i) * 1099511628211ULL;
		char line[64];
		int n = snprintf(line, sizeof line, "%ld %016llx\n", i, (unsigned long long)h);
		if (write(fd, line, n) != n) {
			printf("FAIL: write step %ld: %s\n", i, strerror(errno));
			return 1;
		}
		sleep_ms(10);
	}
	off_t end = lseek(fd, 0, SEEK_CUR);
	printf("%016llx\n", (unsigned long long)h);
	if (end != lseek(fd, 0, SEEK_END))
		printf("FAIL: the file is longer than what was written\n");
	else
		printf("PASS\n");
	return 0;
}
