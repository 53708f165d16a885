// corpus: files in flight (SCM_RIGHTS) on a unix stream socket: runs of bytes with 1-3 files (a regular file at an offset, a pipe's read end with bytes in it, a pipe's write end, a socket of the app carrying a file itself, an eventfd), plain bytes glued before them, two carrying runs side by side, the reader's SO_PEEK_OFF; read back at the same boundaries
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

static void put(int s, const char *data) {
	if (write(s, data, strlen(data)) != (ssize_t)strlen(data))
		die("write");
}

/* expect reads up to len bytes at s: want them to be the bytes want with
 * nfds files, put in fds. */
static void expect(int s, size_t len, const char *want, int nfds, int *fds) {
	char b[256] = {0}, cbuf[CMSG_SPACE(8 * sizeof(int))];
	struct iovec io = {b, len};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t r = recvmsg(s, &m, MSG_DONTWAIT);
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); r >= 0 && c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds + n, CMSG_DATA(c), k * sizeof(int));
			n += k;
		}
	if (r != (ssize_t)strlen(want) || strcmp(b, want) || n != nfds)
		fail("read of %zu: %zd bytes \"%s\" with %d files, want \"%s\" with %d", len, r, r > 0 ? b : "", n, want, nfds);
}

int main(void) {
	char path[64], path2[64];
	snprintf(path, sizeof path, "srights-%d.txt", (int)getpid());
	snprintf(path2, sizeof path2, "srights2-%d.txt", (int)getpid());
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), f2 = open(path2, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (f < 0 || f2 < 0 || write(f, "0123456789", 10) != 10 || lseek(f, 3, SEEK_SET) != 3 || write(f2, "second", 6) != 6 ||
	    lseek(f2, 0, SEEK_SET) != 0)
		die("files");
	unlink(path2); /* f2 lives in flight only, and unlinked */
	int sv[2], ss[2], p[2], p2[2], ip[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || socketpair(AF_UNIX, SOCK_STREAM, 0, ss) || pipe(p) || pipe(p2) || pipe(ip))
		die("socketpair/pipe");
	int ev = eventfd(7, 0);
	if (ev < 0)
		die("eventfd");
	put(p[1], "piped");
	/* The socket in flight (ss[1], which the app holds too) carries a
	 * file itself: the read end of pipe ip, with "nested" in it. */
	put(ip[1], "nested");
	put(ss[0], "pre:");
	send_fds(ss[0], "inner", &ip[0], 1);
	close(ip[0]);

	put(sv[0], "plain-1");
	send_fds(sv[0], "file@3", &f, 1);
	put(sv[0], "between");
	put(sv[0], "more");
	int two[2] = {p[0], ss[1]};
	send_fds(sv[0], "pipe+sock", two, 2);
	int three[3] = {f2, p2[1], f};
	send_fds(sv[0], "three", three, 3);
	send_fds(sv[0], "adjacent", &ev, 1);
	put(sv[0], "tail");
	/* In flight only: the file (also on a second run), the unlinked one,
	 * the pipes' ends, the eventfd. */
	close(f), close(f2), close(p[0]), close(p2[1]), close(ev);
	/* The reader has peeked 3 bytes with SO_PEEK_OFF. */
	int off = 0;
	char pk[4] = {0};
	if (setsockopt(sv[1], SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off) || recv(sv[1], pk, 3, MSG_PEEK) != 3 || strcmp(pk, "pla"))
		die("SO_PEEK_OFF");
	running("unix_stream_rights");
	work(NULL);

	int fds[8];
	struct stat st;
	socklen_t ol = sizeof off;
	if (getsockopt(sv[1], SOL_SOCKET, SO_PEEK_OFF, &off, &ol) || off != 3)
		fail("SO_PEEK_OFF is %d, want 3", off);
	memset(pk, 0, sizeof pk);
	if (recv(sv[1], pk, 3, MSG_PEEK) != 3 || strcmp(pk, "in-"))
		fail("a peek from the peek offset read %s, want in-", pk);
	off = -1;
	if (setsockopt(sv[1], SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off))
		die("SO_PEEK_OFF");
	char b[64] = {0};
	/* The plain bytes before a carrying run come with its files in one
	 * read, but a read that stops one byte before the run has none. */
	expect(sv[1], 7, "plain-1", 0, fds);
	expect(sv[1], 64, "file@3", 1, fds);
	int file = fds[0];
	if (read(file, b, sizeof b - 1) != 7 || strcmp(b, "3456789"))
		fail("the file in flight read %s, want 3456789 (from offset 3)", b);
	expect(sv[1], 10, "betweenmor", 0, fds);
	expect(sv[1], 1, "e", 0, fds);
	expect(sv[1], 64, "pipe+sock", 2, fds);
	memset(b, 0, sizeof b);
	if (read(fds[0], b, sizeof b - 1) != 5 || strcmp(b, "piped"))
		fail("the pipe in flight read %s, want piped", b);
	if (fstat(fds[1], &st) || !S_ISSOCK(st.st_mode))
		fail("the socket in flight is not a socket");
	else {
		struct stat mine;
		if (fstat(ss[1], &mine) || mine.st_ino != st.st_ino)
			fail("the socket in flight is not the app's ss[1]");
		int in[2];
		expect(fds[1], 64, "pre:inner", 1, in);
		memset(b, 0, sizeof b);
		if (read(in[0], b, sizeof b - 1) != 6 || strcmp(b, "nested"))
			fail("the pipe in flight on the socket in flight read %s, want nested", b);
		put(ss[0], "ping");
		expect(ss[1], 64, "ping", 0, in);
	}
	/* A read that takes part of a carrying run gets its files; the rest
	 * is plain and glued to the next carrying run. */
	expect(sv[1], 2, "th", 3, fds);
	memset(b, 0, sizeof b);
	if (read(fds[0], b, sizeof b - 1) != 6 || strcmp(b, "second") || fstat(fds[0], &st) || st.st_nlink != 0)
		fail("the unlinked file in flight read %s (links %d), want second", b, (int)st.st_nlink);
	char c = 0;
	if (write(fds[1], "w", 1) != 1 || read(p2[0], &c, 1) != 1 || c != 'w')
		fail("the pipe's write end in flight does not reach its read end");
	if (lseek(fds[2], 0, SEEK_CUR) != 10 || lseek(fds[2], 5, SEEK_SET) != 5 || lseek(file, 0, SEEK_CUR) != 5)
		fail("the file in flight twice is not one description");
	int evfd[1];
	expect(sv[1], 64, "reeadjacent", 1, evfd);
	uint64_t v = 0;
	if (read(evfd[0], &v, 8) != 8 || v != 7)
		fail("the eventfd in flight reads %llu, want 7", (unsigned long long)v);
	expect(sv[1], 64, "tail", 0, fds);
	if (recv(sv[1], b, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		fail("more bytes queued");
	unlink(path);
	return finish();
}
