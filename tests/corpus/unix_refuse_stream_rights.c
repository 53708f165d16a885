// corpus: a file in flight (SCM_RIGHTS) on a unix stream socket whose peer has closed: the carrying bytes are found by reading the queue and sending it again from the peer, which is gone
// expect: refuse files in flight (SCM_RIGHTS) on a unix stream socket whose peer has closed not supported
#include "corpus.h"
#include <sys/socket.h>
#include <sys/uio.h>

int main(void) {
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || write(sv[0], "pre", 3) != 3)
		die("socketpair");
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec io = {"fd!", 3};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(sizeof(int));
	int fd = 0;
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	if (sendmsg(sv[0], &m, 0) != 3)
		die("sendmsg");
	close(sv[0]);
	running("unix_refuse_stream_rights");
	work(NULL);
	/* Three bytes first, no file; then the three that carry it. */
	char b[4] = {0}, rb[CMSG_SPACE(sizeof(int))];
	struct iovec ri = {b, 3};
	struct msghdr rm = {.msg_iov = &ri, .msg_iovlen = 1, .msg_control = rb, .msg_controllen = sizeof rb};
	if (recvmsg(sv[1], &rm, 0) != 3 || strcmp(b, "pre") || rm.msg_controllen != 0)
		fail("pre: %s, control %zu", b, (size_t)rm.msg_controllen);
	rm.msg_controllen = sizeof rb;
	if (recvmsg(sv[1], &rm, 0) != 3 || strcmp(b, "fd!") || rm.msg_controllen == 0)
		fail("fd!: %s, control %zu", b, (size_t)rm.msg_controllen);
	return finish();
}
