// corpus: files in flight (SCM_RIGHTS) both ways on a unix stream connection made through a path (connect, accept): runs with a file and plain bytes at each end, read back at the same boundaries
// expect: exact
#include "corpus.h"
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

static void send_fd(int s, const char *data, int fd) {
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec io = {(void *)data, strlen(data)};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	if (sendmsg(s, &m, 0) != (ssize_t)strlen(data))
		die("sendmsg");
}

/* expect reads up to len bytes: want, with one file (its inode ino) or
 * none (ino 0). */
static void expect(int s, size_t len, const char *want, ino_t ino) {
	char b[32] = {0}, cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec io = {b, len};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t r = recvmsg(s, &m, MSG_DONTWAIT);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int n = r >= 0 && c && c->cmsg_type == SCM_RIGHTS ? (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0;
	struct stat st = {0};
	if (n == 1)
		fstat(*(int *)CMSG_DATA(c), &st);
	if (r != (ssize_t)strlen(want) || strcmp(b, want) || n != (ino ? 1 : 0) || st.st_ino != ino)
		fail("read of %zu: %zd bytes \"%s\" with %d files, want \"%s\" with %d", len, r, r > 0 ? b : "", n, want, ino ? 1 : 0);
}

int main(void) {
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "srn-%d.sock", (int)getpid());
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || c < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 1) || connect(c, (void *)&a, sizeof a))
		die("listen/connect");
	int s = accept(l, NULL, NULL), p[2];
	if (s < 0 || pipe(p))
		die("accept/pipe");
	int nul = open("/dev/null", O_RDONLY);
	if (nul < 0)
		die("/dev/null");
	/* client → server: plain, a run with the pipe, plain */
	if (write(c, "hello ", 6) != 6)
		die("write");
	send_fd(c, "pipe", p[0]);
	if (write(c, " bye", 4) != 4)
		die("write");
	/* server → client: a run with /dev/null, then plain */
	send_fd(s, "null", nul);
	if (write(s, "!", 1) != 1)
		die("write");
	close(nul);
	running("unix_stream_rights_named");
	work(NULL);
	struct stat ps, ns;
	if (fstat(p[0], &ps) || stat("/dev/null", &ns))
		die("fstat");
	expect(s, 6, "hello ", 0);
	expect(s, 32, "pipe", ps.st_ino);
	expect(s, 32, " bye", 0);
	expect(c, 32, "null", ns.st_ino);
	expect(c, 32, "!", 0);
	unlink(a.sun_path);
	return finish();
}
