/* pty: an interactive program on a pseudo-terminal the app creates itself,
 * across a checkpoint (or a refusal naming the pty).
 *   pty [LINES]
 * The parent opens /dev/ptmx (posix_openpt), sets a 33x101 window and forks
 * a child that starts a session, opens the slave (its controlling
 * terminal), puts it in raw mode and runs an echo loop on it: each line
 * "line NN hello" comes back as "ECHO LINE NN HELLO"; "quit" gets "BYE sid=S
 * pgrp=P ctty=C winsize=RxC" and the child exits 0. The parent sends LINES
 * lines (default 30), 100 ms apart (~3 s), checks every answer, the BYE line
 * (sid, foreground group and the terminal's session are the child's pid; the
 * window size kept) and the child's exit status.
 *
 * stdout (deterministic, the parent's only): a header, a line every 5
 * answers, a result line, then exactly "PASS" or "FAIL: <what>". stderr:
 * "pty: pid=N", "pty: running", "pty: end pid=N". */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "victim.h"

// read_line reads one '\n'-terminated line (without it) byte by byte, within
// timeout_ms for the whole line; -1 on error, EOF or timeout.
static int read_line(int fd, char *buf, size_t cap, int timeout_ms) {
	size_t n = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long left = timeout_ms - ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		char c;
		ssize_t k = read(fd, &c, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		if (c == '\n') {
			buf[n] = 0;
			return (int)n;
		}
		if (n + 1 < cap)
			buf[n++] = c;
	}
}

static void echo_child(const char *slave) {
	if (setsid() < 0)
		_exit(20);
	int fd = open(slave, O_RDWR); // a session leader's first terminal: its controlling one
	if (fd < 0)
		_exit(21);
	struct termios tio;
	if (tcgetattr(fd, &tio) != 0)
		_exit(22);
	cfmakeraw(&tio);
	if (tcsetattr(fd, TCSANOW, &tio) != 0)
		_exit(23);
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
		_exit(24);
	if (fd > 1)
		close(fd);
	if (write_all(1, "READY\n", 6) != 0)
		_exit(25);
	char line[256], out[300];
	for (;;) {
		int n = read_line(0, line, sizeof line, 60000);
		if (n < 0)
			_exit(26);
		if (strcmp(line, "quit") == 0) {
			struct winsize ws = {0};
			ioctl(0, TIOCGWINSZ, &ws);
			int l = snprintf(out, sizeof out, "BYE sid=%d pgrp=%d ctty=%d winsize=%dx%d\n", (int)getsid(0), (int)tcgetpgrp(0),
					 (int)tcgetsid(0), ws.ws_row, ws.ws_col);
			if (write_all(1, out, (size_t)l) != 0)
				_exit(27);
			_exit(0);
		}
		int l = snprintf(out, sizeof out, "ECHO ");
		for (int k = 0; k < n && l < (int)sizeof out - 2; k++)
			out[l++] = (char)toupper((unsigned char)line[k]);
		out[l++] = '\n';
		if (write_all(1, out, (size_t)l) != 0)
			_exit(28);
	}
}

int main(int argc, char **argv) {
	int lines = argc > 1 ? atoi(argv[1]) : 30;
	if (lines <= 0)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t me = getpid();
	fprintf(stderr, "pty: pid=%d\n", (int)me);
	printf("pty: %d lines through an echo loop on a pty of the app's own\n", lines);
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0)
		die("posix_openpt");
	if (grantpt(m) != 0 || unlockpt(m) != 0)
		die("grantpt/unlockpt");
	char slave[128];
	if (ptsname_r(m, slave, sizeof slave) != 0)
		die("ptsname");
	struct winsize ws = {.ws_row = 33, .ws_col = 101};
	if (ioctl(m, TIOCSWINSZ, &ws) != 0)
		die("TIOCSWINSZ");
	pid_t kid = fork();
	if (kid < 0)
		die("fork");
	if (kid == 0) {
		close(m);
		echo_child(slave);
	}
	char line[512], want[512];
	if (read_line(m, line, sizeof line, 10000) < 0 || strcmp(line, "READY") != 0)
		die("the echo child is not ready");

	fprintf(stderr, "pty: running\n");
	int answered = 0;
	for (int i = 0; i < lines; i++) {
		char msg[64];
		int l = snprintf(msg, sizeof msg, "line %02d hello\n", i);
		if (write_all(m, msg, (size_t)l) != 0) {
			fail("write line %d: %s", i, strerror(errno));
			break;
		}
		if (read_line(m, line, sizeof line, 10000) < 0) {
			fail("no answer to line %d", i);
			break;
		}
		snprintf(want, sizeof want, "ECHO LINE %02d HELLO", i);
		if (strcmp(line, want) != 0) {
			fail("answer to line %d is \"%s\", want \"%s\"", i, line, want);
			break;
		}
		answered++;
		if ((i + 1) % 5 == 0)
			printf("answered %d/%d\n", i + 1, lines);
		sleep_ms(100);
	}
	if (write_all(m, "quit\n", 5) != 0)
		fail("write quit: %s", strerror(errno));
	else if (read_line(m, line, sizeof line, 10000) < 0)
		fail("no answer to quit");
	else {
		snprintf(want, sizeof want, "BYE sid=%d pgrp=%d ctty=%d winsize=33x101", (int)kid, (int)kid, (int)kid);
		if (strcmp(line, want) != 0)
			fail("answer to quit is \"%s\", want \"%s\"", line, want);
	}
	int st = 0;
	pid_t w = waitpid(kid, &st, 0);
	fprintf(stderr, "pty: end pid=%d\n", (int)getpid());
	if (getpid() != me)
		fail("getpid() is %d, was %d", (int)getpid(), (int)me);
	if (w != kid)
		fail("waitpid(%d) returned %d (%s)", (int)kid, (int)w, w < 0 ? strerror(errno) : "");
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("the echo child's status %#x, want exit 0", st);
	printf("result: %d answers, quit answered with the child's session\n", answered);
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
