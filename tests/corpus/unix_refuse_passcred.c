// corpus: a datagram queued for a reader with SO_PASSCRED by a child that has exited since: a restore cannot name a pid no process has
// expect: refuse which is no process of the app (it has exited, or lives outside)
// status: blind the senders are found by a peek walk of the queue, which the dump makes with the app frozen
#include "corpus.h"
#include <sys/socket.h>
#include <sys/wait.h>

int main(void) {
	int sv[2], one = 1;
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) || setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one))
		die("socketpair");
	pid_t child = fork();
	if (child == 0)
		_exit(send(sv[0], "cred", 4, 0) == 4 ? 0 : 1);
	int ws;
	if (waitpid(child, &ws, 0) != child || ws != 0)
		die("child");
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
	if (u.pid != child || u.uid != getuid() || u.gid != getgid())
		fail("credentials pid %d uid %d gid %d", u.pid, u.uid, u.gid);
	return finish();
}
