// corpus: files in flight (SCM_RIGHTS) on a unix stream socket whose reader has SO_PASSCRED, sent by a child and by the main process: each run comes back with its files and its sender's credentials, at the same boundaries
// expect: exact
// needs: root
#include "corpus.h"
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

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

/* expect reads up to len bytes at s: the bytes want, sent by pid, with
 * one file (put in *fd) or none (fd NULL). */
static void expect(int s, size_t len, const char *want, pid_t pid, int *fd) {
	char b[64] = {0}, cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(4 * sizeof(int))];
	struct iovec io = {b, len};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t r = recvmsg(s, &m, MSG_DONTWAIT);
	struct ucred u = {0};
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); r >= 0 && c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
			memcpy(&u, CMSG_DATA(c), sizeof u);
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			n += (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			if (fd)
				memcpy(fd, CMSG_DATA(c), sizeof(int));
		}
	}
	if (r != (ssize_t)strlen(want) || strcmp(b, want) || n != (fd ? 1 : 0))
		fail("read of %zu: %zd bytes \"%s\" with %d files, want \"%s\" with %d", len, r, r > 0 ? b : "", n, want, fd ? 1 : 0);
	if (u.pid != pid || u.uid != getuid() || u.gid != getgid())
		fail("\"%s\": credentials pid %d uid %d gid %d, want pid %d", want, u.pid, u.uid, u.gid, (int)pid);
}

int main(void) {
	char path[64];
	snprintf(path, sizeof path, "srpc-%d.txt", (int)getpid());
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (f < 0 || write(f, "abcdef", 6) != 6 || lseek(f, 2, SEEK_SET) != 2)
		die("file");
	int st[2], one = 1, go[2], ready[2], p[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || pipe(go) || pipe(ready) || pipe(p))
		die("socketpair");
	if (setsockopt(st[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one))
		die("SO_PASSCRED");
	pid_t child = fork();
	if (child == 0) {
		close(go[1]);
		if (write(p[1], "from child", 10) != 10 || write(st[0], "ab", 2) != 2)
			_exit(1);
		send_fd(st[0], "cd", p[0]);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		char c;
		read(go[0], &c, 1); /* stays alive until the parent has checked */
		_exit(0);
	}
	close(go[0]);
	close(p[0]);
	char c;
	if (read(ready[0], &c, 1) != 1)
		die("child");
	if (write(st[0], "ef", 2) != 2)
		die("write");
	send_fd(st[0], "gh", f);
	close(f);
	if (write(st[0], "ij", 2) != 2)
		die("write");
	running("unix_stream_rights_passcred");
	work(NULL);
	int fd = -1;
	char b[32] = {0};
	expect(st[1], 63, "abcd", child, &fd);
	if (read(fd, b, sizeof b - 1) != 10 || strcmp(b, "from child"))
		fail("the pipe in flight read %s", b);
	expect(st[1], 1, "e", getpid(), NULL);
	expect(st[1], 63, "fgh", getpid(), &fd);
	memset(b, 0, sizeof b);
	if (read(fd, b, sizeof b - 1) != 4 || strcmp(b, "cdef"))
		fail("the file in flight read %s, want cdef (from offset 2)", b);
	expect(st[1], 63, "ij", getpid(), NULL);
	close(go[1]);
	int ws;
	if (waitpid(child, &ws, 0) != child || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		fail("child ended with %#x", ws);
	unlink(path);
	return finish();
}
