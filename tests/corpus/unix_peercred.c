// corpus: SO_PEERCRED of unix sockets made by other processes than the one holding them: a pair made by a live child, a pair made by a child that has exited since, a connection through a child's listener (client end: the listener's maker; accepted end: the connector), the main process's own pair; SO_PEERPIDFD of each names the live process (or -1: exited)
// expect: exact
#include "corpus.h"
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

struct want {
	const char *what;
	int fd;
	pid_t pid;
	int dead;
};

static struct want wants[16];
static int nwants;
static uid_t uid;
static gid_t gid;

#define SO_PEERPIDFD_ 77

static void expect(const char *what, int fd, pid_t pid, int dead) { wants[nwants++] = (struct want){what, fd, pid, dead}; }

static void check(int step) {
	for (int i = 0; i < nwants; i++) {
		struct ucred c;
		socklen_t l = sizeof c;
		if (getsockopt(wants[i].fd, SOL_SOCKET, SO_PEERCRED, &c, &l) != 0) {
			fail("step %d: %s: getsockopt: %s", step, wants[i].what, strerror(errno));
			continue;
		}
		if (c.pid != wants[i].pid || c.uid != uid || c.gid != gid)
			fail("step %d: %s: SO_PEERCRED pid %d uid %d gid %d, want pid %d uid %d gid %d", step, wants[i].what,
			     (int)c.pid, (int)c.uid, (int)c.gid, (int)wants[i].pid, (int)uid, (int)gid);
		if (step % 50 != 49 && step != -1)
			continue;
		// SO_PEERPIDFD (Linux 6.5): a pidfd of the peer, live or exited;
		// fdinfo names its pid (-1 once it has exited).
		int pfd = -1;
		l = sizeof pfd;
		if (getsockopt(wants[i].fd, SOL_SOCKET, SO_PEERPIDFD_, &pfd, &l) != 0) {
			if (errno != ENOPROTOOPT)
				fail("step %d: %s: SO_PEERPIDFD: %s", step, wants[i].what, strerror(errno));
			continue;
		}
		int want = wants[i].dead ? -1 : (int)wants[i].pid, got = -2;
		char path[64], line[256];
		snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pfd);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof line, f))
			if (sscanf(line, "Pid: %d", &got) == 1)
				break;
		if (f)
			fclose(f);
		int fl = fcntl(pfd, F_GETFD);
		close(pfd);
		if (got != want || !(fl & FD_CLOEXEC))
			fail("step %d: %s: SO_PEERPIDFD names pid %d (fd flags %d), want %d close-on-exec", step, wants[i].what, got, fl, want);
	}
}

static void sendfds(int via, int *fds, int n) {
	char buf[CMSG_SPACE(4 * sizeof(int))] = {0};
	struct iovec io = {"f", 1};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = CMSG_SPACE(n * sizeof(int))};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	if (sendmsg(via, &m, 0) != 1)
		die("sendmsg");
}

static void recvfds(int via, int *fds, int n) {
	char buf[CMSG_SPACE(4 * sizeof(int))], x;
	struct iovec io = {&x, 1};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
	if (recvmsg(via, &m, 0) != 1 || !CMSG_FIRSTHDR(&m))
		die("recvmsg");
	memcpy(fds, CMSG_DATA(CMSG_FIRSTHDR(&m)), n * sizeof(int));
}

int main(void) {
	uid = geteuid();
	gid = getegid();
	pid_t me = getpid();
	int ctl[2], own[2], quit[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, ctl) || socketpair(AF_UNIX, SOCK_STREAM, 0, own) || pipe(quit))
		die("socketpair");
	struct sockaddr_un la = {.sun_family = AF_UNIX};
	snprintf(la.sun_path + 1, sizeof la.sun_path - 1, "crrun-peercred-%d", (int)me);
	socklen_t ll = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(la.sun_path + 1);

	// A: a live child that makes a pair and a listener, accepts the main
	// process's connection, and checks its own listener after the restore.
	pid_t a = fork();
	if (a == 0) {
		int pa[2], l = socket(AF_UNIX, SOCK_STREAM, 0);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, pa) || bind(l, (void *)&la, ll) || listen(l, 4))
			_exit(2);
		sendfds(ctl[1], pa, 2);
		int acc = accept(l, NULL, NULL);
		if (acc < 0)
			_exit(3);
		sendfds(ctl[1], &acc, 1);
		char q;
		if (read(quit[0], &q, 1) != 1)
			_exit(4);
		struct ucred c;
		socklen_t cl = sizeof c;
		if (getsockopt(l, SOL_SOCKET, SO_PEERCRED, &c, &cl) || c.pid != getpid() || c.uid != uid || c.gid != gid)
			_exit(5);
		_exit(0);
	}
	int pa[2], cli = socket(AF_UNIX, SOCK_STREAM, 0), acc;
	recvfds(ctl[0], pa, 2);
	for (int i = 0; connect(cli, (void *)&la, ll) != 0; i++)
		if (i > 1000)
			die("connect");
		else
			sleep_ms(1);
	recvfds(ctl[0], &acc, 1);

	// B: a child that makes a pair, gives it away and exits: SO_PEERCRED
	// goes on naming its pid.
	pid_t b = fork();
	if (b == 0) {
		int pb[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pb))
			_exit(2);
		sendfds(ctl[1], pb, 2);
		_exit(0);
	}
	int pb[2], st;
	recvfds(ctl[0], pb, 2);
	if (waitpid(b, &st, 0) != b || st != 0)
		die("child B");

	expect("own pair end 0", own[0], me, 0);
	expect("own pair end 1", own[1], me, 0);
	expect("A's pair end 0", pa[0], a, 0);
	expect("A's pair end 1", pa[1], a, 0);
	expect("client of A's listener", cli, a, 0);
	expect("accepted by A, connected by main", acc, me, 0);
	expect("gone B's pair end 0", pb[0], b, 1);
	expect("gone B's pair end 1", pb[1], b, 1);
	check(-1);
	running("unix_peercred");
	work(check);
	if (write(quit[1], "q", 1) != 1)
		die("write");
	if (waitpid(a, &st, 0) != a || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("child A: status %#x (5: its listener's SO_PEERCRED changed)", st);
	if (write(own[0], "x", 1) != 1 || write(pa[0], "y", 1) != 1 || write(pb[0], "z", 1) != 1 || write(cli, "w", 1) != 1)
		fail("write: %s", strerror(errno));
	char r[4] = {0};
	if (read(own[1], r, 1) != 1 || read(pa[1], r + 1, 1) != 1 || read(pb[1], r + 2, 1) != 1 || read(acc, r + 3, 1) != 1 || memcmp(r, "xyzw", 4))
		fail("read back %.4s", r);
	return finish();
}
