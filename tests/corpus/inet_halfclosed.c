// corpus: a half-closed TCP connection inside the app (shutdown(SHUT_WR) on one end: fin-wait2 and close-wait), bytes still flowing the other way; another whose reading end was shut down (shutdown(SHUT_RD): reads return 0 at once)
// expect: exact
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

int main(void) {
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 2) || getsockname(l, (struct sockaddr *)&a, &al))
		die("listen");
	if (connect(c, (struct sockaddr *)&a, sizeof a))
		die("connect");
	int s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept");
	if (shutdown(c, SHUT_WR))
		die("shutdown");
	int c2 = socket(AF_INET, SOCK_STREAM, 0);
	if (c2 < 0 || connect(c2, (struct sockaddr *)&a, sizeof a))
		die("connect 2");
	int s2 = accept(l, NULL, NULL);
	if (s2 < 0 || shutdown(s2, SHUT_RD))
		die("shutdown(SHUT_RD)");
	running("inet_halfclosed");
	work(NULL);
	char b = 'y';
	if (write(s, &b, 1) != 1 || read(c, &b, 1) != 1 || b != 'y')
		fail("no byte through the half-closed connection");
	if (read(s, &b, 1) != 0)
		fail("no EOF after shutdown");
	if (recv(s2, &b, 1, MSG_DONTWAIT) != 0)
		fail("reading shut down: recv %s", strerror(errno));
	if (write(s2, "z", 1) != 1 || read(c2, &b, 1) != 1 || b != 'z')
		fail("no byte from the end whose reading was shut down");
	return finish();
}
