// corpus: shutdown(2) state of unix socketpairs (stream, seqpacket, datagram), with bytes still queued
// expect: exact
#include "corpus.h"
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

/* Four pairs: a stream pair whose A end wrote "hello" then shut down its
 * writing (B must still read "hello", then EOF); a stream pair whose C end
 * shut down its reading (C reads EOF, D's writes fail with EPIPE); a
 * seqpacket pair with E shut both ways; a datagram pair with G shut for
 * writing (H can still send to G). Checked after ~1.5 s through reads,
 * writes and poll's POLLRDHUP/POLLHUP. */

static int pollev(int fd) {
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP};
	poll(&p, 1, 0);
	return p.revents;
}

static void expect_write(const char *what, int fd, int want_errno) {
	ssize_t w = send(fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (want_errno == 0 ? w != 1 : (w >= 0 || errno != want_errno))
		fail("%s: write gave %zd (%s)", what, w, w < 0 ? strerror(errno) : "ok");
}

static void expect_read(const char *what, int fd, const char *want) {
	char b[16] = {0};
	ssize_t r = recv(fd, b, sizeof b - 1, MSG_DONTWAIT);
	if (want == NULL ? r != 0 : (r != (ssize_t)strlen(want) || strcmp(b, want)))
		fail("%s: read gave %zd %s", what, r, r < 0 ? strerror(errno) : b);
}

int main(void) {
	signal(SIGPIPE, SIG_IGN);
	int ab[2], cd[2], ef[2], gh[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, ab) || socketpair(AF_UNIX, SOCK_STREAM, 0, cd) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ef) || socketpair(AF_UNIX, SOCK_DGRAM, 0, gh))
		die("socketpair");
	if (write(ab[0], "hello", 5) != 5 || shutdown(ab[0], SHUT_WR) || shutdown(cd[0], SHUT_RD) ||
	    shutdown(ef[0], SHUT_RDWR) || shutdown(gh[0], SHUT_WR))
		die("shutdown");
	int before[8];
	int all[8] = {ab[0], ab[1], cd[0], cd[1], ef[0], ef[1], gh[0], gh[1]};
	for (int i = 0; i < 8; i++)
		before[i] = pollev(all[i]);
	running("unix_shutdown");
	work(NULL);
	for (int i = 0; i < 8; i++)
		if (pollev(all[i]) != before[i])
			fail("socket %d: poll events %#x, were %#x", i, pollev(all[i]), before[i]);
	expect_read("B", ab[1], "hello");
	expect_read("B after the bytes", ab[1], NULL);
	expect_write("A", ab[0], EPIPE);
	expect_write("B", ab[1], 0);
	expect_read("A", ab[0], "x");
	expect_read("C", cd[0], NULL);
	expect_write("D", cd[1], EPIPE);
	expect_write("C", cd[0], 0);
	expect_read("D", cd[1], "x");
	expect_write("E", ef[0], EPIPE);
	expect_write("F", ef[1], EPIPE);
	expect_read("E", ef[0], NULL);
	expect_write("G", gh[0], EPIPE);
	expect_write("H", gh[1], 0);
	expect_read("G", gh[0], "x");
	return finish();
}
