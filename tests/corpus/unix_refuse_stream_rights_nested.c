// corpus: a unix socket in flight (SCM_RIGHTS) on a unix stream socket, itself carrying a file, that no fd of the app holds any more (only in flight)
// expect: refuse a unix socket in flight (SCM_RIGHTS) that no fd of the app holds not supported
#include "corpus.h"
#include <sys/socket.h>
#include <sys/uio.h>

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

static int recv_fd(int s, char *b, size_t len) {
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec io = {b, len};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	int fd = -1;
	if (recvmsg(s, &m, MSG_DONTWAIT) > 0 && CMSG_FIRSTHDR(&m) && CMSG_FIRSTHDR(&m)->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
	return fd;
}

int main(void) {
	int sv[2], in[2], p[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || socketpair(AF_UNIX, SOCK_STREAM, 0, in) || pipe(p) || write(p[1], "deep", 4) != 4)
		die("socketpair/pipe");
	send_fd(in[0], "inner", p[0]); /* in[1] carries the pipe's read end */
	send_fd(sv[0], "outer", in[1]);
	close(p[0]), close(in[1]), close(in[0]);
	running("unix_refuse_stream_rights_nested");
	work(NULL);
	char b[16] = {0};
	int s = recv_fd(sv[1], b, sizeof b - 1);
	if (s < 0 || strcmp(b, "outer"))
		fail("outer: %s, fd %d", b, s);
	memset(b, 0, sizeof b);
	int r = s < 0 ? -1 : recv_fd(s, b, sizeof b - 1);
	if (r < 0 || strcmp(b, "inner"))
		fail("inner: %s, fd %d", b, r);
	memset(b, 0, sizeof b);
	if (r < 0 || read(r, b, sizeof b - 1) != 4 || strcmp(b, "deep"))
		fail("the pipe in flight in flight read %s", b);
	return finish();
}
