// corpus: a datagram queued for a reader with SO_PASSCRED, whose sender's credentials a restore cannot give back (it sends the datagram again as crrun)
// expect: refuse bytes queued for a reader with SO_PASSCRED
#include "corpus.h"
#include <sys/socket.h>

int main(void) {
	int sv[2], one = 1;
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) || setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) ||
	    send(sv[0], "cred", 4, 0) != 4)
		die("socketpair");
	running("unix_refuse_passcred");
	work(NULL);
	char b[5] = {0}, cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec io = {b, 4};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	if (recvmsg(sv[1], &m, 0) != 4 || strcmp(b, "cred"))
		fail("read %s", b);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	struct ucred u = {0};
	if (c && c->cmsg_type == SCM_CREDENTIALS)
		memcpy(&u, CMSG_DATA(c), sizeof u);
	if (u.pid != getpid() || u.uid != getuid() || u.gid != getgid())
		fail("credentials pid %d uid %d gid %d", u.pid, u.uid, u.gid);
	return finish();
}
