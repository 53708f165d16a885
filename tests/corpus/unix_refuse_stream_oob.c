// corpus: a byte sent out of band (MSG_OOB) waiting at a unix stream socket, before a run that carries a file in flight: reads stop before it and skip it, so reading the queue to find the files would lose it and its mark
// expect: refuse an out-of-band byte (MSG_OOB) queued at a unix stream socket not supported
#include "corpus.h"
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

int main(void) {
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || write(sv[0], "ab", 2) != 2 || send(sv[0], "c", 1, MSG_OOB) != 1)
		die("socketpair/MSG_OOB");
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec io = {"d", 1};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(sizeof(int));
	int fd = 1;
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	if (sendmsg(sv[0], &m, 0) != 1)
		die("sendmsg");
	running("unix_refuse_stream_oob");
	work(NULL);
	char b[8] = {0};
	if (recv(sv[1], b, sizeof b, MSG_DONTWAIT) != 2 || strcmp(b, "ab"))
		fail("before the mark: %s", b);
	int mark = 0;
	if (ioctl(sv[1], SIOCATMARK, &mark) || !mark)
		fail("not at the mark");
	memset(b, 0, sizeof b);
	if (recv(sv[1], b, sizeof b, MSG_OOB | MSG_DONTWAIT) != 1 || strcmp(b, "c"))
		fail("out of band: %s", b);
	memset(b, 0, sizeof b);
	char rb[CMSG_SPACE(sizeof(int))];
	struct iovec ri = {b, sizeof b};
	struct msghdr rm = {.msg_iov = &ri, .msg_iovlen = 1, .msg_control = rb, .msg_controllen = sizeof rb};
	if (recvmsg(sv[1], &rm, MSG_DONTWAIT) != 1 || strcmp(b, "d") || rm.msg_controllen == 0)
		fail("the run with a file: %s, control %zu", b, (size_t)rm.msg_controllen);
	return finish();
}
