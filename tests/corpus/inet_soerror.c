// corpus: a TCP connect refused in the background, its error (SO_ERROR) not read yet, which crrun refuses
// expect: refuse an error is pending (SO_ERROR) or queued
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

int main(void) {
	/* A port nothing listens on: bound, then closed. */
	int t = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof a) || getsockname(t, (struct sockaddr *)&a, &al))
		die("bind");
	close(t);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c < 0 || (connect(c, (struct sockaddr *)&a, sizeof a) == 0 || errno != EINPROGRESS) && errno != ECONNREFUSED)
		die("connect");
	struct pollfd p = {.fd = c, .events = POLLOUT};
	if (poll(&p, 1, 2000) != 1 || !(p.revents & POLLERR))
		die("no error");
	running("inet_soerror");
	work(NULL);
	int e = 0;
	socklen_t el = sizeof e;
	if (getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el) || e != ECONNREFUSED)
		fail("SO_ERROR %d, want ECONNREFUSED", e);
	return finish();
}
