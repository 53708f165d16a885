// corpus: an established TCP connection between two sockets of the app, on the host's network (TCP_REPAIR not done yet)
// expect: refuse established TCP connection 127.0.0.1:
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

int main(void) {
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
	running("inet_socket");
	work(NULL);
	char b = 'y';
	if (write(c, &b, 1) != 1 || read(s, &b, 1) != 1 || b != 'y')
		fail("no byte through the connection");
	return finish();
}
