/*
 * usock: named AF_UNIX sockets across a checkpoint. The parent listens on a
 * path and on an abstract name, accepts a child's connection on each (the
 * abstract listener is closed after its accept), and binds a datagram
 * socket. The child streams 80 numbered messages through each connection
 * while the parent sleeps (bytes in flight), then, after the checkpoint
 * window, connects to the path listener again and sends a datagram.
 * Checked: every byte in order, getsockname/getpeername on both sides, the
 * listener still accepting, the datagram socket still bound.
 * stdout: PASS or FAIL lines. stderr: "usock: pid=N", "usock: running",
 * "usock: end pid=N".
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "victim.h"

static int fails;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL: " __VA_ARGS__); printf("\n"); fails++; } } while (0)

static socklen_t addr(struct sockaddr_un *sa, const char *name, int abstract) {
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (abstract) {
		memcpy(sa->sun_path + 1, name, strlen(name));
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	}
	strcpy(sa->sun_path, name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

static int readall(int fd, char *b, int n) {
	int got = 0, k;
	while (got < n && (k = read(fd, b + got, n - got)) > 0) got += k;
	return got;
}

int main(int argc, char **argv) {
	const char *dir = argc > 1 ? argv[1] : ".";
	char path[100], dpath[100], abs_name[64];
	snprintf(path, sizeof path, "%s/u.sock", dir);
	snprintf(dpath, sizeof dpath, "%s/d.sock", dir);
	snprintf(abs_name, sizeof abs_name, "crrun-usock-%d-%ld", (int)getpid(), (long)time(0));
	unlink(path);
	unlink(dpath);
	fprintf(stderr, "usock: pid=%d\n", (int)getpid());
	struct sockaddr_un sa, sb, sd;
	socklen_t la = addr(&sa, path, 0), lb = addr(&sb, abs_name, 1), ld = addr(&sd, dpath, 0);
	int L = socket(AF_UNIX, SOCK_STREAM, 0), L2 = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(L, (void *)&sa, la);
	listen(L, 4);
	bind(L2, (void *)&sb, lb);
	listen(L2, 4);
	int D = socket(AF_UNIX, SOCK_DGRAM, 0);
	bind(D, (void *)&sd, ld);
	int go[2];
	pipe(go);
	pid_t c = fork();
	if (c == 0) {
		close(L), close(L2), close(D), close(go[1]);
		int c1 = socket(AF_UNIX, SOCK_STREAM, 0), c2 = socket(AF_UNIX, SOCK_STREAM, 0);
		connect(c1, (void *)&sa, la);
		connect(c2, (void *)&sb, lb);
		for (int i = 0; i < 80; i++) {
			char m[16];
			snprintf(m, sizeof m, "p%03d;", i);
			write(c1, m, 5);
			snprintf(m, sizeof m, "a%03d;", i);
			write(c2, m, 5);
			sleep_ms(25);
		}
		char x;
		read(go[0], &x, 1); /* the parent read everything */
		struct sockaddr_un pa;
		socklen_t pl = sizeof pa;
		int ok = getpeername(c1, (void *)&pa, &pl) == 0 && !strcmp(pa.sun_path, path);
		pl = sizeof pa;
		ok = ok && getpeername(c2, (void *)&pa, &pl) == 0 && pa.sun_path[0] == 0 && !memcmp(pa.sun_path + 1, abs_name, strlen(abs_name));
		write(c1, ok ? "Y" : "N", 1);
		int c3 = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(c3, (void *)&sa, la) == 0) write(c3, "again", 5);
		int dg = socket(AF_UNIX, SOCK_DGRAM, 0);
		sendto(dg, "datagram", 8, 0, (void *)&sd, ld);
		sleep_ms(200);
		_exit(0);
	}
	close(go[0]);
	int A = accept(L, 0, 0), A2 = accept(L2, 0, 0);
	close(L2);
	fprintf(stderr, "usock: running\n");
	sleep_ms(2500); /* the checkpoint lands here, with bytes in flight */
	char b[400], w[8];
	CHECK(readall(A, b, 400) == 400, "path connection short");
	for (int i = 0; i < 80; i++) {
		snprintf(w, sizeof w, "p%03d;", i);
		if (memcmp(b + 5 * i, w, 5)) { CHECK(0, "path message %d", i); break; }
	}
	CHECK(readall(A2, b, 400) == 400, "abstract connection short");
	for (int i = 0; i < 80; i++) {
		snprintf(w, sizeof w, "a%03d;", i);
		if (memcmp(b + 5 * i, w, 5)) { CHECK(0, "abstract message %d", i); break; }
	}
	struct sockaddr_un got;
	socklen_t gl = sizeof got;
	CHECK(getsockname(A, (void *)&got, &gl) == 0 && !strcmp(got.sun_path, path), "accepted socket's name '%s'", got.sun_path);
	write(go[1], "x", 1);
	char y = 0;
	CHECK(read(A, &y, 1) == 1 && y == 'Y', "the child's getpeername (%c)", y);
	int A3 = accept(L, 0, 0);
	CHECK(A3 >= 0 && readall(A3, b, 5) == 5 && !memcmp(b, "again", 5), "the listener after the restore");
	CHECK(recv(D, b, sizeof b, 0) == 8 && !memcmp(b, "datagram", 8), "the bound datagram socket");
	int st;
	CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	unlink(path);
	unlink(dpath);
	fprintf(stderr, "usock: end pid=%d\n", (int)getpid());
	printf(fails ? "FAIL\n" : "PASS\n");
	return fails != 0;
}
