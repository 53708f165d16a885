/* inet_peer PORT: a TCP connection to 127.0.0.1:PORT (a peer outside the
 * app, the test's), held open; or, with no PORT, one between two sockets
 * of the app, through a listener whose port it prints ("inet_peer:
 * port=N"). Prints "inet_peer: running" on stderr, then waits for stdin
 * to close. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int l = -1, c;
	if (argc > 1) {
		c = socket(AF_INET, SOCK_STREAM, 0);
		a.sin_port = htons(atoi(argv[1]));
	} else {
		l = socket(AF_INET, SOCK_STREAM, 0); /* fd 3 */
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al)) {
			perror("listen");
			return 1;
		}
	}
	if (connect(c, (struct sockaddr *)&a, sizeof a)) {
		perror("connect");
		return 1;
	}
	if (argc == 1) {
		static int l2;
		l2 = accept(3, NULL, NULL); /* the listener: fd 3 */
		if (l2 < 0) {
			perror("accept");
			return 1;
		}
	}
	if (l >= 0)
		fprintf(stderr, "inet_peer: port=%d\n", ntohs(a.sin_port));
	fprintf(stderr, "inet_peer: running\n");
	(void)l;
	char b;
	while (read(0, &b, 1) > 0)
		;
	return 0;
}
