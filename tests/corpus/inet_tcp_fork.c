// corpus: a TCP connection between two processes of the app (a forked client streaming to its parent), mid-transfer, in a network namespace of the app's own
// expect: exact
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define TOTAL (2 << 20)

static uint8_t next_byte(uint64_t *g) {
	*g = *g * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint8_t)(*g >> 56);
}

int main(void) {
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al))
		die("listen");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) { /* the client: the whole stream, as fast as the server takes it */
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&a, sizeof a))
			_exit(2);
		uint64_t g = 7;
		uint8_t buf[8192];
		for (long sent = 0; sent < TOTAL;) {
			for (size_t i = 0; i < sizeof buf; i++)
				buf[i] = next_byte(&g);
			for (size_t off = 0; off < sizeof buf;) {
				ssize_t w = write(c, buf + off, sizeof buf - off);
				if (w <= 0)
					_exit(3);
				off += w;
			}
			sent += sizeof buf;
		}
		/* stay until the server has it all (an exited client's socket
		 * would be no process's, outside the app) */
		char b;
		_exit(read(c, &b, 1) == 1 ? 0 : 4);
	}
	int s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept");
	running("inet_tcp_fork");
	static uint64_t g = 7;
	static long got;
	static int bad;
	uint8_t buf[4096];
	/* the server reads slowly: the client's send queue and our receive queue stay full */
	for (int i = 0; i < 150; i++) {
		ssize_t r = recv(s, buf, sizeof buf, MSG_DONTWAIT);
		for (ssize_t k = 0; k < r && !bad; k++)
			if (buf[k] != next_byte(&g))
				bad = 1;
		if (r > 0)
			got += r;
		sleep_ms(10);
	}
	while (got < TOTAL) {
		ssize_t r = read(s, buf, sizeof buf);
		if (r <= 0)
			break;
		for (ssize_t k = 0; k < r && !bad; k++)
			if (buf[k] != next_byte(&g))
				bad = 1;
		got += r;
	}
	if (write(s, "k", 1) != 1)
		fail("write the end byte: %s", strerror(errno));
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("client ended with status %#x", st);
	if (bad || got != TOTAL)
		fail("got %ld bytes of %d%s", got, TOTAL, bad ? ", some wrong" : "");
	return finish();
}
