// corpus: unconnected unix sockets (unbound, bound to a path, bound to an abstract name), socket options (SO_PASSCRED, SO_PEEK_OFF mid-peek, buffer sizes, timeouts), socketpairs whose peer has closed with bytes still queued
// expect: exact
#include "corpus.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

static int geti(int fd, int opt) {
	int v = -12345;
	socklen_t l = sizeof v;
	getsockopt(fd, SOL_SOCKET, opt, &v, &l);
	return v;
}

int main(void) {
	/* An unbound stream socket with options. */
	int u = socket(AF_UNIX, SOCK_STREAM, 0);
	int one = 1, sb = 65536;
	struct timeval tv = {1, 500000};
	if (setsockopt(u, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) || setsockopt(u, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb) ||
	    setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv))
		die("setsockopt");
	int usnd = geti(u, SO_SNDBUF);
	/* A stream socket bound to a path, not listening. */
	struct sockaddr_un pa = {.sun_family = AF_UNIX};
	snprintf(pa.sun_path, sizeof pa.sun_path, "unc-%d.sock", (int)getpid());
	unlink(pa.sun_path);
	int b = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(b, (void *)&pa, sizeof pa))
		die("bind path");
	/* A datagram socket bound to an abstract name. */
	struct sockaddr_un aa = {.sun_family = AF_UNIX};
	snprintf(aa.sun_path + 1, sizeof aa.sun_path - 1, "crrun-unc-%d", (int)getpid());
	socklen_t al = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(aa.sun_path + 1);
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (bind(d, (void *)&aa, al))
		die("bind abstract");
	/* SO_PEEK_OFF: 2 bytes of "abcdef" peeked already. */
	int pp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pp) || write(pp[1], "abcdef", 6) != 6)
		die("socketpair");
	int zero = 0;
	char pk[2];
	if (setsockopt(pp[0], SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) || recv(pp[0], pk, 2, MSG_PEEK) != 2)
		die("peek");
	/* Peers closed: a stream pair with "bye" queued, a datagram pair with
	 * two datagrams queued. */
	int sp[2], dp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dp))
		die("socketpair");
	if (write(sp[1], "bye", 3) != 3 || send(dp[1], "d1", 2, 0) != 2 || send(dp[1], "dd2", 3, 0) != 3)
		die("write");
	close(sp[1]);
	close(dp[1]);
	running("unix_unconnected");
	work(NULL);
	if (geti(u, SO_PASSCRED) != 1 || geti(u, SO_SNDBUF) != usnd)
		fail("unbound: passcred %d sndbuf %d (want 1, %d)", geti(u, SO_PASSCRED), geti(u, SO_SNDBUF), usnd);
	struct timeval got;
	socklen_t gl = sizeof got;
	if (getsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &got, &gl) || got.tv_sec != 1 || got.tv_usec != 500000)
		fail("unbound: rcvtimeo %ld.%06ld", (long)got.tv_sec, (long)got.tv_usec);
	struct sockaddr_un n;
	socklen_t nl = sizeof n;
	if (getsockname(u, (void *)&n, &nl) || nl != offsetof(struct sockaddr_un, sun_path))
		fail("unbound: bound now (%d bytes of address)", (int)nl);
	/* The path-bound socket listens now, and takes a connection. */
	nl = sizeof n;
	if (getsockname(b, (void *)&n, &nl) || strcmp(n.sun_path, pa.sun_path))
		fail("path: name %s, want %s", n.sun_path, pa.sun_path);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (listen(b, 1) || connect(c, (void *)&pa, sizeof pa))
		fail("path: listen/connect: %s", strerror(errno));
	int acc = accept(b, NULL, NULL);
	if (acc < 0 || write(c, "x", 1) != 1 || read(acc, pk, 1) != 1 || pk[0] != 'x')
		fail("path: accept and read");
	/* The abstract one receives. */
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (sendto(s, "hi", 2, 0, (void *)&aa, al) != 2 || recv(d, pk, 2, MSG_DONTWAIT) != 2 || memcmp(pk, "hi", 2))
		fail("abstract: send and receive: %s", strerror(errno));
	/* The peek offset goes on from 2. */
	if (geti(pp[0], SO_PEEK_OFF) != 2)
		fail("SO_PEEK_OFF %d, want 2", geti(pp[0], SO_PEEK_OFF));
	char six[7] = {0};
	if (recv(pp[0], pk, 2, MSG_PEEK) != 2 || memcmp(pk, "cd", 2))
		fail("peek from the offset: %.2s", pk);
	if (recv(pp[0], six, 6, 0) != 6 || strcmp(six, "abcdef"))
		fail("read: %s", six);
	/* Closed peers: the bytes, then the end. */
	char bye[4] = {0};
	if (recv(sp[0], bye, 3, MSG_DONTWAIT) != 3 || strcmp(bye, "bye") || recv(sp[0], bye, 3, MSG_DONTWAIT) != 0)
		fail("stream with its peer closed: %s", bye);
	if (recv(dp[0], bye, 3, MSG_DONTWAIT) != 2 || memcmp(bye, "d1", 2) || recv(dp[0], bye, 3, MSG_DONTWAIT) != 3 || memcmp(bye, "dd2", 3))
		fail("datagrams from a closed peer");
	if (send(dp[0], "x", 1, MSG_DONTWAIT) != -1 || errno != ECONNREFUSED)
		fail("send to a closed peer: %s", strerror(errno));
	unlink(pa.sun_path);
	return finish();
}
