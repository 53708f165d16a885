// corpus: TCP connections waiting in a listener's accept queue, their clients sockets of the app with bytes sent (one more than the queue holds); accepted after the restore in order, with every byte
// expect: exact
// flags: --net=private
// chain: no a checkpoint that leaves the app running refuses connections waiting to be accepted (only --exit saves them)
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#define N 3
#define BIG (6 << 20) /* client 2 writes up to this: more than the server end's receive queue */

static int cli[N];
static long wrote[N];
static uint64_t wgen[N];

static uint8_t next_byte(uint64_t *g) {
	*g = *g * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint8_t)(*g >> 56);
}

static void send_some(int i, long max) {
	uint8_t buf[65536];
	while (max > 0) {
		long n = max < (long)sizeof buf ? max : (long)sizeof buf;
		uint64_t g = wgen[i];
		for (long k = 0; k < n; k++)
			buf[k] = next_byte(&g);
		ssize_t w = send(cli[i], buf, n, MSG_DONTWAIT);
		if (w < 0) {
			if (errno != EAGAIN)
				fail("client %d: send: %s", i, strerror(errno));
			return;
		}
		for (ssize_t k = 0; k < w; k++)
			next_byte(&wgen[i]);
		wrote[i] += w;
		max -= w;
	}
}

static void step(int i) {
	if (i % 10 == 0 && wrote[2] < BIG)
		send_some(2, BIG - wrote[2] < 65536 ? BIG - wrote[2] : 65536);
}

int main(void) {
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 8) || getsockname(l, (struct sockaddr *)&a, &al))
		die("listen");
	for (int i = 0; i < N; i++) {
		wgen[i] = 1000 + i;
		cli[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (cli[i] < 0 || connect(cli[i], (struct sockaddr *)&a, sizeof a))
			die("connect");
	}
	send_some(0, 100);
	send_some(2, 200000);
	sleep_ms(20);
	running("inet_backlog");
	work(step);
	printf("queued: client 0 %ld bytes, client 1 %ld\n", wrote[0], wrote[1]);
	for (int i = 0; i < N; i++) {
		struct sockaddr_in want, got;
		socklen_t wl = sizeof want, gl = sizeof got;
		struct pollfd p = {.fd = l, .events = POLLIN};
		if (poll(&p, 1, 5000) != 1) {
			fail("connection %d not waiting", i);
			break;
		}
		int s = accept(l, (struct sockaddr *)&got, &gl);
		if (s < 0 || getsockname(cli[i], (struct sockaddr *)&want, &wl)) {
			fail("accept %d: %s", i, strerror(errno));
			break;
		}
		if (want.sin_port != got.sin_port || want.sin_addr.s_addr != got.sin_addr.s_addr)
			fail("connection %d accepted from port %d, its client is on %d", i, ntohs(got.sin_port), ntohs(want.sin_port));
		/* Every byte its client wrote, then its client's end of stream. */
		shutdown(cli[i], SHUT_WR);
		uint64_t g = 1000 + i;
		long n = 0;
		uint8_t buf[65536];
		for (;;) {
			struct pollfd q = {.fd = s, .events = POLLIN};
			if (poll(&q, 1, 5000) != 1) {
				fail("connection %d: no byte within 5 s after %ld", i, n);
				break;
			}
			ssize_t r = read(s, buf, sizeof buf);
			if (r <= 0)
				break;
			for (ssize_t k = 0; k < r; k++)
				if (buf[k] != next_byte(&g)) {
					fail("connection %d: byte %ld differs", i, n + k);
					r = -1;
					break;
				}
			if (r < 0)
				break;
			n += r;
		}
		if (n != wrote[i])
			fail("connection %d: %ld bytes read, %ld written", i, n, wrote[i]);
		/* And the other way. */
		char c = 'r';
		if (write(s, &c, 1) != 1 || read(cli[i], &c, 1) != 1 || c != 'r')
			fail("connection %d: no byte back to the client", i);
		close(s);
	}
	struct pollfd p = {.fd = l, .events = POLLIN};
	if (poll(&p, 1, 0) != 0)
		fail("a connection more waits in the listener");
	return finish();
}
