// corpus: a unix stream socket's queue filled to the brim by 64 KiB writes after two runs that carry files in flight (SCM_RIGHTS), 128 KiB apart: sent again in one piece, it needs more of the sender's buffer than the app's writes did
// expect: exact
#include "corpus.h"
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

static void send_fd(int s, const char *data, int fd) {
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec io = {(void *)data, strlen(data)};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	if (sendmsg(s, &m, MSG_DONTWAIT) != (ssize_t)strlen(data))
		die("sendmsg");
}

/* expect_fd reads up to len bytes: want them to be want, with one file
 * that is stdout, or none. */
static void expect_fd(int s, size_t len, const char *want, int nfds) {
	char b[16] = {0}, cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec io = {b, len};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t r = recvmsg(s, &m, MSG_DONTWAIT);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int n = r >= 0 && c && c->cmsg_type == SCM_RIGHTS ? (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0;
	if (r != (ssize_t)strlen(want) || strcmp(b, want) || n != nfds)
		fail("read of %zu: %zd bytes \"%s\" with %d files, want \"%s\" with %d", len, r, r > 0 ? b : "", n, want, nfds);
	struct stat a, o;
	if (n == 1 && (fstat(*(int *)CMSG_DATA(c), &a) || fstat(1, &o) || a.st_ino != o.st_ino || a.st_dev != o.st_dev))
		fail("the file in flight with \"%s\" is not stdout", want);
}

static unsigned char buf[1 << 16], got[1 << 16];

/* at is byte k of the stream written between the two runs. */
static unsigned char at(long k) { return (unsigned char)(k * 7 + k / 251); }

/* fill queues a run with a file at s, then 64 KiB writes until the queue
 * takes no more, with a second run with a file once mid_at bytes are
 * written (mid_at < 0: none); it returns the byte count between, and in
 * *mid where the second run came. */
static long fill(int s, long mid_at, long *mid) {
	send_fd(s, "head", 1);
	long total = 0;
	*mid = -1;
	for (;;) {
		if (mid_at >= 0 && total >= mid_at && *mid < 0) {
			send_fd(s, "mid", 1);
			*mid = total;
		}
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = at(total + i);
		ssize_t r = send(s, buf, sizeof buf, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0)
			die("send");
		total += r;
	}
	if (mid_at >= 0 && *mid < 0)
		die("the queue took less than mid_at");
	return total;
}

/* check reads back what fill queued at the other end s. */
static void check(int s, long total, long mid) {
	expect_fd(s, 16, "head", 1);
	long seen = 0;
	while (seen < total) {
		if (seen == mid)
			expect_fd(s, 3, "mid", 1);
		long end = seen < mid ? mid : total;
		size_t want = end - seen < (long)sizeof got ? (size_t)(end - seen) : sizeof got;
		ssize_t r = recv(s, got, want, MSG_DONTWAIT);
		if (r <= 0) {
			fail("read %ld of %ld bytes between", seen, total);
			break;
		}
		for (ssize_t i = 0; i < r; i++)
			if (got[i] != at(seen + i)) {
				fail("byte %ld differs", seen + i);
				r = total - seen;
				break;
			}
		seen += r;
	}
	if (recv(s, got, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		fail("more bytes queued");
}

int main(void) {
	int a[2], b[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) || socketpair(AF_UNIX, SOCK_STREAM, 0, b))
		die("socketpair");
	/* a: one run with a file, then the brim (sent again in one piece,
	 * these bytes overflowed the sender's buffer); b: a second run
	 * 128 KiB further. */
	long amid, bmid, at_ = fill(a[0], -1, &amid), bt = fill(b[0], 2 * (long)sizeof buf, &bmid);
	running("unix_stream_rights_full");
	work(NULL);
	check(a[1], at_, amid);
	check(b[1], bt, bmid);
	return finish();
}
