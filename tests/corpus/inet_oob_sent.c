// corpus: a TCP sender of the app whose urgent (MSG_OOB) byte waits in its send queue behind a closed window: the urgent pointer is state no checkpoint reads, so crrun refuses until the peer has it
// expect: refuse sent urgent (out-of-band, MSG_OOB) data
// flags: --net=private
#include "inet_oob.h"
#include <linux/sockios.h>

static unsigned char pat(long i) { return (unsigned char)(i * 7 + (i >> 9)); }

int main(void) {
	/* The receiver's window closes at a few KiB; the sender's buffer holds
	 * the rest, the urgent byte at its end. */
	int small = 4096, big = 1 << 20;
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (l < 0 || c < 0 || setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) ||
	    setsockopt(c, SOL_SOCKET, SO_SNDBUF, &big, sizeof big) || bind(l, (struct sockaddr *)&a, sizeof a) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al) || connect(c, (struct sockaddr *)&a, sizeof a))
		die("connect");
	int s = accept(l, NULL, NULL);
	if (s < 0 || fcntl(c, F_SETFL, O_NONBLOCK))
		die("accept");
	close(l);
	static unsigned char buf[65536];
	long tot = 0;
	for (int k = 0; k < 4; k++) {
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = pat(tot + (long)i);
		ssize_t n = send(c, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		tot += n;
	}
	if (send(c, "X", 1, MSG_OOB) != 1)
		die("send MSG_OOB");
	int unsent = 0;
	if (ioctl(c, SIOCOUTQNSD, &unsent) || unsent == 0)
		die("the urgent byte was sent at once: no closed window");
	running("inet_oob_sent");
	work(NULL);
	/* The reader takes every byte before the mark, then the urgent one. */
	long got = 0;
	while (got < tot) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		if (poll(&p, 1, 2000) != 1)
			die("poll");
		long want = tot - got < (long)sizeof buf ? tot - got : (long)sizeof buf;
		ssize_t n = recv(s, buf, want, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			die("recv");
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat(got + i)) {
				fail("byte %ld is %d, not %d", got + i, buf[i], pat(got + i));
				return finish();
			}
		got += n;
	}
	wait_for(s, POLLPRI);
	char b = 0;
	int at = 0;
	if (ioctl(s, SIOCATMARK, &at) || !at)
		fail("not at the urgent mark after %ld bytes", got);
	if (recv(s, &b, 1, MSG_OOB) != 1 || b != 'X')
		fail("the urgent byte: %c (%s)", b, strerror(errno));
	return finish();
}
