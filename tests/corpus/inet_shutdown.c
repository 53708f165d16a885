// corpus: TCP connections inside the app shut down mid-transfer: one end shuts down its writing with bytes still queued (fin-wait1) while the other keeps reading and writing, then shuts down too (closing); another pair where the second end shuts down too with bytes its peer cannot take yet (last-ack); reads return 0 exactly after the last byte
// expect: exact
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#define TOTAL_A (2 << 20) /* A to B, then A shuts down */
#define TOTAL_B (3 << 20) /* B to A, then B shuts down */

struct end {
	int fd;
	const char *name;
	uint64_t wgen, rgen;
	long wrote, got, wtotal; /* wtotal: shut down once written (-1: never) */
	int shut, eof;
};

static uint8_t next_byte(uint64_t *g) {
	*g = *g * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint8_t)(*g >> 56);
}

/* pump writes up to wmax and reads up to rmax bytes, without blocking;
 * -1: as much as the socket takes or gives. */
static void pump(struct end *e, long wmax, long rmax) {
	uint8_t buf[65536];
	while (wmax != 0 && !e->shut && (e->wtotal < 0 || e->wrote < e->wtotal)) {
		long n = sizeof buf;
		if (wmax > 0 && n > wmax)
			n = wmax;
		if (e->wtotal >= 0 && n > e->wtotal - e->wrote)
			n = e->wtotal - e->wrote;
		uint64_t g = e->wgen;
		for (long i = 0; i < n; i++)
			buf[i] = next_byte(&g);
		ssize_t w = send(e->fd, buf, n, MSG_DONTWAIT);
		if (w < 0) {
			if (errno != EAGAIN)
				fail("%s: send: %s", e->name, strerror(errno));
			break;
		}
		for (ssize_t i = 0; i < w; i++)
			next_byte(&e->wgen);
		e->wrote += w;
		if (wmax > 0)
			wmax -= w;
	}
	if (!e->shut && e->wtotal >= 0 && e->wrote == e->wtotal) {
		if (shutdown(e->fd, SHUT_WR))
			fail("%s: shutdown: %s", e->name, strerror(errno));
		e->shut = 1;
	}
	while (rmax != 0 && !e->eof) {
		long n = sizeof buf;
		if (rmax > 0 && n > rmax)
			n = rmax;
		ssize_t r = recv(e->fd, buf, n, MSG_DONTWAIT);
		if (r < 0) {
			if (errno != EAGAIN)
				fail("%s: recv: %s", e->name, strerror(errno));
			break;
		}
		if (r == 0) {
			e->eof = 1;
			break;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != next_byte(&e->rgen)) {
				fail("%s: byte %ld differs", e->name, e->got + i);
				e->eof = 1;
				return;
			}
		e->got += r;
		if (rmax > 0)
			rmax -= r;
	}
}

static void pair(int *c, int *s) {
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	*c = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || *c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al))
		die("listen");
	if (connect(*c, (struct sockaddr *)&a, sizeof a))
		die("connect");
	if ((*s = accept(l, NULL, NULL)) < 0)
		die("accept");
	close(l);
}

static struct end A, B, E, F;

static void step(int i) {
	(void)i;
	pump(&A, 48 << 10, 16 << 10);
	pump(&B, 48 << 10, 16 << 10);
}

/* drain pumps both ends until each has seen its peer's end of stream, for
 * at most 30 s. It waits only on the ends still reading (one at its end
 * of stream is always readable: waiting on it would spin through the
 * bound in a moment), so bytes a restored sender retransmits after its
 * timeout (up to a second or so on a busy machine) are waited for. */
static void drain(struct end *x, struct end *y) {
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pump(x, -1, -1);
		pump(y, -1, -1);
		if (x->eof && y->eof)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 30)
			return;
		struct pollfd p[2];
		int n = 0;
		if (!x->eof)
			p[n++] = (struct pollfd){.fd = x->fd, .events = POLLIN};
		if (!y->eof)
			p[n++] = (struct pollfd){.fd = y->fd, .events = POLLIN};
		poll(p, n, 10);
	}
}

int main(void) {
	pair(&A.fd, &B.fd);
	A = (struct end){A.fd, "A", 1, 2, 0, 0, TOTAL_A, 0, 0};
	B = (struct end){B.fd, "B", 2, 1, 0, 0, TOTAL_B, 0, 0};
	pair(&E.fd, &F.fd);
	E = (struct end){E.fd, "E", 3, 4, 0, 0, 0, 0, 0};
	F = (struct end){F.fd, "F", 4, 3, 0, 0, -1, 0, 0};
	/* E shuts down at once; F reads its end of stream, writes until E
	 * can take no more, and shuts down: its FIN waits behind bytes. */
	pump(&E, 0, 0);
	for (int i = 0; i < 200 && !F.eof; i++) {
		pump(&F, 0, -1);
		sleep_ms(1);
	}
	if (!F.eof)
		die("F: no end of stream");
	for (int i = 0; i < 3; i++) {
		pump(&F, -1, 0);
		sleep_ms(20);
	}
	F.wtotal = F.wrote;
	pump(&F, 0, 0);
	running("inet_shutdown");
	work(step);
	drain(&A, &B);
	drain(&E, &F);
	if (A.got != TOTAL_B || B.got != TOTAL_A)
		fail("A read %ld of %d bytes, B %ld of %d", A.got, TOTAL_B, B.got, TOTAL_A);
	if (E.got != F.wrote || F.got != 0)
		fail("E read %ld of %ld bytes, F %ld of 0", E.got, F.wrote, F.got);
	if (!A.eof || !B.eof || !E.eof || !F.eof)
		fail("no end of stream (A %d B %d E %d F %d)", A.eof, B.eof, E.eof, F.eof);
	printf("%s\n", F.wrote > 0 ? "F wrote" : "F wrote nothing");
	return finish();
}
