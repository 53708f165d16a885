/* inet_tcp.h: the body of the TCP connection corpus programs: a server and
 * a client socket of the app, connected over the loopback, stream bytes
 * both ways mid-transfer (each side writes more than the other reads, so
 * both send and receive queues fill up and bytes are in flight at the
 * checkpoint), then drain; every byte is checked against the writer's
 * generator. */
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#define TOTAL (3 << 20) /* bytes each way */

struct stream {
	int fd;
	const char *name;
	uint64_t wgen, rgen; /* the generators of what we write and what we expect */
	long wrote, got;
};

static uint8_t next_byte(uint64_t *g) {
	*g = *g * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint8_t)(*g >> 56);
}

static void pump(struct stream *s, long wmax, long rmax) {
	uint8_t buf[65536];
	while (wmax > 0 && s->wrote < TOTAL) {
		long n = wmax < (long)sizeof buf ? wmax : (long)sizeof buf;
		if (n > TOTAL - s->wrote)
			n = TOTAL - s->wrote;
		uint64_t g = s->wgen;
		for (long i = 0; i < n; i++)
			buf[i] = next_byte(&g);
		ssize_t w = send(s->fd, buf, n, MSG_DONTWAIT);
		if (w < 0) {
			if (errno != EAGAIN)
				fail("%s: send: %s", s->name, strerror(errno));
			break;
		}
		for (long i = 0; i < w; i++)
			next_byte(&s->wgen);
		s->wrote += w;
		wmax -= w;
	}
	while (rmax > 0 && s->got < TOTAL) {
		long n = rmax < (long)sizeof buf ? rmax : (long)sizeof buf;
		ssize_t r = recv(s->fd, buf, n, MSG_DONTWAIT);
		if (r < 0) {
			if (errno != EAGAIN)
				fail("%s: recv: %s", s->name, strerror(errno));
			break;
		}
		if (r == 0) {
			fail("%s: EOF after %ld bytes", s->name, s->got);
			s->got = TOTAL;
			break;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != next_byte(&s->rgen)) {
				fail("%s: byte %ld differs", s->name, s->got + i);
				s->got = TOTAL;
				return;
			}
		s->got += r;
		rmax -= r;
	}
}

static struct stream srv, cli;

static void step(int i) {
	(void)i;
	pump(&srv, 48 << 10, 16 << 10);
	pump(&cli, 48 << 10, 16 << 10);
}

static int tcp_main(const char *name, int fam) {
	int l = socket(fam, SOCK_STREAM, 0), c = socket(fam, SOCK_STREAM, 0);
	if (l < 0 || c < 0)
		die("socket");
	struct sockaddr_storage ss = {0};
	socklen_t al;
	if (fam == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		al = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		al = sizeof *a;
	}
	if (bind(l, (struct sockaddr *)&ss, al) || listen(l, 4) || getsockname(l, (struct sockaddr *)&ss, &al))
		die("listen");
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	if (connect(c, (struct sockaddr *)&ss, al))
		die("connect");
	int a = accept(l, NULL, NULL);
	if (a < 0)
		die("accept");
	srv = (struct stream){.fd = a, .name = "server", .wgen = 1, .rgen = 2};
	cli = (struct stream){.fd = c, .name = "client", .wgen = 2, .rgen = 1};
	running(name);
	work(step);
	/* drain: everything either side wrote arrives, in order (within 30 s:
	 * TCP may have to send again what was in flight at a checkpoint) */
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (now = t0; now.tv_sec - t0.tv_sec < 30 && (srv.wrote < TOTAL || cli.wrote < TOTAL || srv.got < TOTAL || cli.got < TOTAL) && !corpus_failures[0];
	     clock_gettime(CLOCK_MONOTONIC, &now)) {
		pump(&srv, 1 << 20, 1 << 20);
		pump(&cli, 1 << 20, 1 << 20);
		struct pollfd p[2] = {{a, POLLIN | (srv.wrote < TOTAL ? POLLOUT : 0), 0}, {c, POLLIN | (cli.wrote < TOTAL ? POLLOUT : 0), 0}};
		poll(p, 2, 10);
	}
	if (srv.got != TOTAL || cli.got != TOTAL)
		fail("got %ld and %ld bytes of %d", srv.got, cli.got, TOTAL);
	int v = 0;
	socklen_t vl = sizeof v;
	if (getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &vl) || !v)
		fail("TCP_NODELAY lost");
	/* the listener still accepts */
	int c2 = socket(fam, SOCK_STREAM, 0), a2 = -1;
	if (connect(c2, (struct sockaddr *)&ss, al) || (a2 = accept(l, NULL, NULL)) < 0)
		fail("a new connection after the transfer: %s", strerror(errno));
	/* an orderly close reaches the peer; the clients close first, so
	 * that no TIME_WAIT holds the listener's port once the app ends */
	char b;
	close(c);
	if (recv(a, &b, 1, 0) != 0)
		fail("no EOF after the client closed");
	close(c2);
	if (a2 >= 0 && recv(a2, &b, 1, 0) != 0)
		fail("no EOF on the second connection");
	close(a2);
	close(a);
	return finish();
}
