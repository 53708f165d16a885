/* inet_oob.h: a TCP connection inside the app (loopback), for the urgent
 * data programs. */
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static CORPUS_UNUSED void tcp_pair(int *cli, int *srv) {
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al))
		die("listen");
	if (connect(c, (struct sockaddr *)&a, sizeof a))
		die("connect");
	int s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept");
	close(l);
	*cli = c, *srv = s;
}

/* wait_for polls fd for events (up to 2 s). */
static void wait_for(int fd, short events) {
	struct pollfd p = {.fd = fd, .events = events};
	if (poll(&p, 1, 2000) != 1 || !(p.revents & events))
		die("poll");
}
