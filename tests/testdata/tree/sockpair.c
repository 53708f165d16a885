/* sockpair: two processes on a socketpair(AF_UNIX, SOCK_STREAM) with data
 * in flight in both directions, across a checkpoint.
 *   sockpair [BURSTS]
 * The child writes BURSTS bursts (default 10) of 64 KiB of deterministic
 * bytes, 150 ms apart; the parent reads 2 KiB every 10 ms, slower, so up to
 * the socket buffers' worth waits in the socket (and the writer blocks).
 * After every 64 KiB the parent sends an ack {index, running FNV-1a of the
 * stream}; the child collects acks as they arrive (FIONREAD) and, after
 * shutdown(SHUT_WR), the rest, checks each against its own running hash and
 * exits 0 (3: an ack differs, 4: acks missing, 5: I/O error). The parent
 * checks the total, its hash against a local computation, the child's exit
 * status and that waitpid returns the forked pid. ~3.3 s.
 *
 * stdout (deterministic, the parent's only): a header, one line per 64 KiB
 * received, a result line, then exactly "PASS" or "FAIL: <what>". stderr:
 * "sockpair: pid=N", "sockpair: running", "sockpair: end pid=N". */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "victim.h"

#define BURST (64 * 1024)
#define PIECE 2048

static unsigned char stream_byte(uint64_t k) { return (unsigned char)(mix(k / 8 ^ 0x50c4e7) >> (8 * (k % 8))); }

static uint64_t fnv(uint64_t h, const unsigned char *b, size_t n) {
	for (size_t j = 0; j < n; j++)
		h = (h ^ b[j]) * 0x100000001b3ULL;
	return h;
}
#define FNV0 0xcbf29ce484222325ULL

struct ack {
	uint64_t index, hash;
};

static int send_all(int fd, const void *p, size_t n) {
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

// recv_full reads up to n bytes, fewer only at EOF; -1 on error.
static ssize_t recv_full(int fd, void *p, size_t n) {
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, (char *)p + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int take_ack(const struct ack *a, uint64_t *next, const uint64_t *prefix, int bursts) {
	if (a->index != *next || a->index >= (uint64_t)bursts)
		return 3;
	if (a->hash != prefix[a->index])
		return 3;
	(*next)++;
	return 0;
}

static void writer(int s, int bursts) {
	unsigned char *buf = malloc(BURST);
	uint64_t *prefix = calloc((size_t)bursts, sizeof *prefix);
	uint64_t h = FNV0, next = 0;
	for (int b = 0; b < bursts; b++) {
		for (size_t k = 0; k < BURST; k++)
			buf[k] = stream_byte((uint64_t)b * BURST + k);
		h = fnv(h, buf, BURST);
		prefix[b] = h;
		if (send_all(s, buf, BURST) != 0)
			_exit(5);
		// The acks that have arrived (a stream: count bytes, not sends).
		int avail = 0;
		while (ioctl(s, FIONREAD, &avail) == 0 && avail >= (int)sizeof(struct ack)) {
			struct ack a;
			if (recv_full(s, &a, sizeof a) != (ssize_t)sizeof a)
				_exit(5);
			if (take_ack(&a, &next, prefix, bursts) != 0)
				_exit(3);
		}
		sleep_ms(150);
	}
	if (shutdown(s, SHUT_WR) != 0)
		_exit(5);
	struct ack a;
	ssize_t r;
	while ((r = recv_full(s, &a, sizeof a)) == (ssize_t)sizeof a)
		if (take_ack(&a, &next, prefix, bursts) != 0)
			_exit(3);
	if (r != 0)
		_exit(5);
	_exit(next == (uint64_t)bursts ? 0 : 4);
}

int main(int argc, char **argv) {
	int bursts = argc > 1 ? atoi(argv[1]) : 10;
	if (bursts <= 0)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t me = getpid();
	fprintf(stderr, "sockpair: pid=%d\n", (int)me);
	printf("sockpair: %d bursts of %d KiB one way, acks the other, reader %d bytes per 10 ms\n", bursts, BURST / 1024, PIECE);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		die("socketpair");
	pid_t kid = fork();
	if (kid < 0)
		die("fork");
	if (kid == 0) {
		close(sv[0]);
		writer(sv[1], bursts);
	}
	close(sv[1]);
	int s = sv[0];
	fprintf(stderr, "sockpair: running\n");
	unsigned char buf[PIECE];
	uint64_t h = FNV0, total = 0, acks = 0;
	for (;;) {
		ssize_t r = recv_full(s, buf, PIECE);
		if (r < 0)
			die("recv");
		if (r == 0)
			break;
		h = fnv(h, buf, (size_t)r);
		total += (uint64_t)r;
		if (total % BURST == 0) {
			struct ack a = {acks++, h};
			if (send_all(s, &a, sizeof a) != 0)
				fail("send ack %" PRIu64 ": %s", a.index, strerror(errno));
			printf("received %" PRIu64 " KiB fnv=%016" PRIx64 "\n", total / 1024, h);
		}
		if (r < PIECE)
			break;
		sleep_ms(10);
	}
	close(s);
	int st = 0;
	pid_t w = waitpid(kid, &st, 0);
	fprintf(stderr, "sockpair: end pid=%d\n", (int)getpid());

	if (getpid() != me)
		fail("getpid() is %d, was %d", (int)getpid(), (int)me);
	if (w != kid)
		fail("waitpid(%d) returned %d (%s)", (int)kid, (int)w, w < 0 ? strerror(errno) : "");
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("the writer's status %#x, want exit 0 (3: an ack differs, 4: acks missing, 5: I/O error)", st);
	uint64_t want = FNV0;
	for (uint64_t k = 0; k < (uint64_t)bursts * BURST; k++) {
		unsigned char c = stream_byte(k);
		want = fnv(want, &c, 1);
	}
	if (total != (uint64_t)bursts * BURST)
		fail("received %" PRIu64 " bytes, want %d", total, bursts * BURST);
	if (h != want)
		fail("fnv %016" PRIx64 ", want %016" PRIx64, h, want);
	printf("result: %" PRIu64 " bytes fnv=%016" PRIx64 " acks=%" PRIu64 "\n", total, h, acks);
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
