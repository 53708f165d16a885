// corpus: datagrams and stream bytes queued for readers with SO_PASSCRED, sent by a child and by the main process: each comes back with its sender's pid, uid and gid
// expect: exact
// needs: root
#include "corpus.h"
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* expect_cred reads up to len bytes from s and checks the bytes and the
 * credentials that come with them. */
static void expect_cred(const char *what, int s, size_t len, const char *want, pid_t pid) {
	char b[64] = {0}, cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec io = {b, len};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t r = recvmsg(s, &m, MSG_DONTWAIT);
	struct ucred u = {0};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (r >= 0 && c && c->cmsg_type == SCM_CREDENTIALS)
		memcpy(&u, CMSG_DATA(c), sizeof u);
	if (r != (ssize_t)strlen(want) || strcmp(b, want))
		fail("%s: read %zd %s, want %s", what, r, b, want);
	if (u.pid != pid || u.uid != getuid() || u.gid != getgid())
		fail("%s: credentials pid %d uid %d gid %d, want pid %d", what, u.pid, u.uid, u.gid, (int)pid);
}

int main(void) {
	int dg[2], st[2], one = 1, go[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) || socketpair(AF_UNIX, SOCK_STREAM, 0, st) || pipe(go))
		die("socketpair");
	if (setsockopt(dg[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) || setsockopt(st[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one))
		die("SO_PASSCRED");
	pid_t child = fork();
	if (child == 0) {
		close(go[1]);
		if (send(dg[0], "child", 5, 0) != 5 || write(st[0], "abc", 3) != 3)
			_exit(1);
		char c;
		read(go[0], &c, 1); /* stays alive until the parent has checked */
		_exit(0);
	}
	close(go[0]);
	sleep_ms(100);
	if (send(dg[0], "parent", 6, 0) != 6 || write(st[0], "def", 3) != 3)
		die("send");
	running("unix_passcred");
	work(NULL);
	expect_cred("datagram 1", dg[1], 63, "child", child);
	expect_cred("datagram 2", dg[1], 63, "parent", getpid());
	expect_cred("stream run 1", st[1], 63, "abc", child);
	expect_cred("stream run 2", st[1], 63, "def", getpid());
	close(go[1]);
	int ws;
	if (waitpid(child, &ws, 0) != child || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		fail("child ended with %#x", ws);
	return finish();
}
