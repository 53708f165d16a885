/* ptyflood: output piling up in a pty the app created. A child in its own
 * session writes 8000 numbered lines to the slave (its controlling
 * terminal, default termios: "\n" becomes "\r\n") faster than the parent
 * reads the master (it pauses every 100 lines), so bytes for the master sit
 * in the pty when the checkpoint lands; they must come back exactly.
 * stdout: a line per 500, then PASS or FAIL. stderr: "ptyflood: pid=N",
 * "ptyflood: running", "ptyflood: end pid=N". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "victim.h"

/* About 6 s of reading: longer than the latest checkpoint the test takes
 * (1.5 s after "running") plus the 3 s a checkpoint waits for a pty to
 * empty before it refuses. */
#define FLOOD_LINES 8000

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	fprintf(stderr, "ptyflood: pid=%d\n", (int)getpid());
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m)) return 2;
	char *slave = ptsname(m);
	pid_t kid = fork();
	if (kid == 0) {
		close(m);
		setsid();
		int s = open(slave, O_RDWR);
		if (s < 0) _exit(3);
		for (int i = 0; i < FLOOD_LINES; i++) {
			char line[64];
			int n = snprintf(line, sizeof line, "line %04d of the flood\n", i);
			/* A write blocked for room returns short when the process is
			 * stopped (a signal, or the checkpoint's freeze): loop, as
			 * stdio does. */
			if (write_all(s, line, (size_t)n) != 0) _exit(4);
			if (i % 50 == 0) sleep_ms(5);
		}
		/* keep the slave open until the parent has read everything */
		char c;
		read(s, &c, 1);
		_exit(0);
	}
	fprintf(stderr, "ptyflood: running\n");
	char buf[256], line[128];
	int ln = 0, next = 0, bad = 0;
	FILE *in = fdopen(dup(m), "r");
	setvbuf(in, NULL, _IONBF, 0);
	while (next < FLOOD_LINES && fgets(line, sizeof line, in)) {
		char want[64];
		snprintf(want, sizeof want, "line %04d of the flood\r\n", next);
		if (strcmp(line, want) != 0) {
			printf("FAIL: line %d is \"%.40s\"\n", next, line);
			bad = 1;
			break;
		}
		next++;
		if (next % 500 == 0) printf("read %d lines\n", next);
		if (next % 100 == 0) sleep_ms(80); /* let output pile up in the pty */
	}
	(void)buf;
	(void)ln;
	write(m, "x\n", 2);
	int st;
	waitpid(kid, &st, 0);
	fprintf(stderr, "ptyflood: end pid=%d\n", (int)getpid());
	printf(!bad && next == FLOOD_LINES && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "PASS\n" : "FAIL\n");
	return bad;
}
