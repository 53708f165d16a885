// corpus: files in flight on unix sockets (SCM_RIGHTS): a file at an offset and a pipe's write end only in flight on a seqpacket socket, an eventfd on a datagram, crrun's stdout on another seqpacket
// expect: exact
#include "corpus.h"
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

static void send_fds(int s, const char *data, int *fds, int n) {
	char cbuf[CMSG_SPACE(4 * sizeof(int))] = {0};
	struct iovec io = {(void *)data, strlen(data)};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = CMSG_SPACE(n * sizeof(int))};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	if (sendmsg(s, &m, 0) != (ssize_t)strlen(data))
		die("sendmsg");
}

/* recv_fds reads up to len bytes into b and the fds that come with them;
 * returns the byte count, *n the number of fds. */
static ssize_t recv_fds(int s, char *b, size_t len, int *fds, int *n) {
	char cbuf[CMSG_SPACE(8 * sizeof(int))];
	struct iovec io = {b, len};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t r = recvmsg(s, &m, MSG_DONTWAIT);
	*n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); r >= 0 && c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds + *n, CMSG_DATA(c), k * sizeof(int));
			*n += k;
		}
	return r;
}

int main(void) {
	char path[64];
	snprintf(path, sizeof path, "scm-%d.txt", (int)getpid());
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (f < 0 || write(f, "0123456789", 10) != 10 || lseek(f, 3, SEEK_SET) != 3)
		die("file");
	int p[2], st[2], dg[2], sq[2];
	if (pipe(p) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq))
		die("pipe/socketpair");
	int ev = eventfd(5, 0);
	if (ev < 0)
		die("eventfd");
	/* Seqpacket: "pre", then "fd!" with the file and the pipe's write end,
	 * then "post"; the file and the write end are closed here: they live
	 * in flight only. */
	if (write(st[0], "pre", 3) != 3)
		die("write");
	int two[2] = {f, p[1]};
	send_fds(st[0], "fd!", two, 2);
	if (write(st[0], "post", 4) != 4)
		die("write");
	close(f);
	close(p[1]);
	/* Datagram: a plain one, then one with the eventfd (closed here). */
	if (send(dg[0], "plain", 5, 0) != 5)
		die("send");
	send_fds(dg[0], "ev", &ev, 1);
	close(ev);
	/* Seqpacket: crrun's stdout. */
	int one = 1;
	send_fds(sq[0], "out", &one, 1);
	running("unix_scm_rights");
	work(NULL);
	char b[64] = {0};
	int fds[8], n;
	ssize_t r = recv_fds(st[1], b, sizeof b - 1, fds, &n);
	if (r != 3 || strcmp(b, "pre") || n != 0)
		fail("seqpacket pre: %zd %s with %d fds", r, b, n);
	memset(b, 0, sizeof b);
	r = recv_fds(st[1], b, sizeof b - 1, fds, &n);
	if (r != 3 || strcmp(b, "fd!") || n != 2) {
		fail("seqpacket with files: %zd %s with %d fds", r, b, n);
	} else {
		char rest[16] = {0};
		if (read(fds[0], rest, sizeof rest - 1) != 7 || strcmp(rest, "3456789"))
			fail("the file in flight read %s, want 3456789 (from offset 3)", rest);
		if (lseek(fds[0], 0, SEEK_CUR) != 10)
			fail("the file's offset is %ld", (long)lseek(fds[0], 0, SEEK_CUR));
		char c = 0;
		if (write(fds[1], "p", 1) != 1 || read(p[0], &c, 1) != 1 || c != 'p')
			fail("the pipe's write end in flight does not reach its read end");
		close(fds[1]);
		if (read(p[0], &c, 1) != 0)
			fail("the pipe has another writer");
		close(fds[0]);
	}
	memset(b, 0, sizeof b);
	r = recv_fds(st[1], b, sizeof b - 1, fds, &n);
	if (r != 4 || strcmp(b, "post") || n != 0)
		fail("seqpacket after: %zd %s with %d fds", r, b, n);
	memset(b, 0, sizeof b);
	r = recv_fds(dg[1], b, sizeof b - 1, fds, &n);
	if (r != 5 || strcmp(b, "plain") || n != 0)
		fail("datagram 1: %zd %s with %d fds", r, b, n);
	memset(b, 0, sizeof b);
	r = recv_fds(dg[1], b, sizeof b - 1, fds, &n);
	uint64_t v = 0;
	if (r != 2 || strcmp(b, "ev") || n != 1 || read(fds[0], &v, 8) != 8 || v != 5)
		fail("datagram 2: %zd %s with %d fds, eventfd %llu", r, b, n, (unsigned long long)v);
	memset(b, 0, sizeof b);
	r = recv_fds(sq[1], b, sizeof b - 1, fds, &n);
	struct stat s1, s2;
	if (r != 3 || strcmp(b, "out") || n != 1 || fstat(fds[0], &s1) || fstat(1, &s2) || s1.st_ino != s2.st_ino || s1.st_dev != s2.st_dev)
		fail("seqpacket: %zd %s with %d fds, not stdout", r, b, n);
	unlink(path);
	return finish();
}
