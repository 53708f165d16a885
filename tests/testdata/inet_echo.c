/* inet_echo: a TCP server on 127.0.0.1 (its port printed: "inet_echo:
 * port=N") whose one client is outside the app (the test's): every byte
 * it reads it writes back, until its client shuts down its writing; then
 * it prints "PASS <bytes>" and closes. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al)) {
		perror("listen");
		return 1;
	}
	fprintf(stderr, "inet_echo: port=%d\n", ntohs(a.sin_port));
	int s = accept(l, NULL, NULL);
	if (s < 0) {
		perror("accept");
		return 1;
	}
	close(l);
	fprintf(stderr, "inet_echo: running\n");
	static char buf[65536];
	long total = 0;
	for (;;) {
		ssize_t n = read(s, buf, sizeof buf);
		if (n < 0) {
			perror("read");
			return 1;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(s, buf + off, n - off);
			if (w < 0) {
				perror("write");
				return 1;
			}
			off += w;
		}
		total += n;
	}
	printf("PASS %ld\n", total);
	close(s);
	return 0;
}
