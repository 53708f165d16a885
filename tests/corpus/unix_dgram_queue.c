// corpus: unix datagram queues, held by two processes (a socketpair, and a bound socket fed by bound, abstract and unbound senders) and seqpacket records, each message with its bytes, boundaries and sender's address
// expect: exact
#include "corpus.h"
#include <stddef.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/un.h>
#include <sys/wait.h>

static socklen_t abstract(struct sockaddr_un *a, const char *what) {
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "crrun-dgq-%s-%d", what, (int)getpid());
	return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a->sun_path + 1);
}

static socklen_t path(struct sockaddr_un *a, const char *what) {
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof a->sun_path, "dgq-%s-%d.sock", what, (int)getpid());
	unlink(a->sun_path);
	return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

/* expect_msg reads one message from fd and checks its bytes, its size and
 * its sender's address (want_from NULL: unbound). */
static void expect_msg(const char *what, int fd, const char *want, const struct sockaddr_un *want_from, socklen_t want_len) {
	char b[256] = {0};
	struct sockaddr_un from;
	socklen_t fl = sizeof from;
	memset(&from, 0, sizeof from);
	ssize_t r = recvfrom(fd, b, sizeof b - 1, MSG_DONTWAIT, (void *)&from, &fl);
	if (r != (ssize_t)strlen(want) || memcmp(b, want, r)) {
		fail("%s: read %zd bytes %s, want %s", what, r, r < 0 ? strerror(errno) : b, want);
		return;
	}
	if (want_from == NULL) {
		if (fl > offsetof(struct sockaddr_un, sun_path))
			fail("%s: from a bound socket (%d bytes of address), want unbound", what, (int)fl);
	} else if (fl != want_len || memcmp(&from, want_from, fl))
		fail("%s: sender address of %d bytes, want %d", what, (int)fl, (int)want_len);
}

int main(void) {
	int pr[2], sq[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pr) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq))
		die("socketpair");
	/* The pair: three datagrams from pr[1] at pr[0]. */
	if (send(pr[1], "one", 3, 0) != 3 || send(pr[1], "two two", 7, 0) != 7 || send(pr[1], "3", 1, 0) != 1)
		die("send pair");
	/* Seqpacket: records keep their boundaries. */
	if (send(sq[0], "alpha", 5, 0) != 5 || send(sq[0], "be", 2, 0) != 2 || send(sq[0], "gamma gamma", 11, 0) != 11)
		die("send seqpacket");
	/* A bound receiver fed by an abstract-named, a path-named and an
	 * unbound sender. */
	struct sockaddr_un ra, s1a, s2a;
	socklen_t rl = abstract(&ra, "recv"), s1l = abstract(&s1a, "s1"), s2l = path(&s2a, "s2");
	int r = socket(AF_UNIX, SOCK_DGRAM, 0), s1 = socket(AF_UNIX, SOCK_DGRAM, 0), s2 = socket(AF_UNIX, SOCK_DGRAM, 0),
	    s3 = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (bind(r, (void *)&ra, rl) || bind(s1, (void *)&s1a, s1l) || bind(s2, (void *)&s2a, s2l))
		die("bind");
	if (sendto(s1, "from s1", 7, 0, (void *)&ra, rl) != 7 || sendto(s2, "from s2", 7, 0, (void *)&ra, rl) != 7 ||
	    sendto(s3, "from s3", 7, 0, (void *)&ra, rl) != 7 || sendto(s1, "s1 again", 8, 0, (void *)&ra, rl) != 8)
		die("sendto");
	/* A child holds every socket too: the queue is the socket's, whichever
	 * process's fd the restore meets first. */
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	running("unix_dgram_queue");
	work(NULL);
	expect_msg("pair 1", pr[0], "one", NULL, 0);
	expect_msg("pair 2", pr[0], "two two", NULL, 0);
	expect_msg("pair 3", pr[0], "3", NULL, 0);
	expect_msg("seqpacket 1", sq[1], "alpha", NULL, 0);
	expect_msg("seqpacket 2", sq[1], "be", NULL, 0);
	expect_msg("seqpacket 3", sq[1], "gamma gamma", NULL, 0);
	expect_msg("bound 1", r, "from s1", &s1a, s1l);
	expect_msg("bound 2", r, "from s2", &s2a, s2l);
	expect_msg("bound 3", r, "from s3", NULL, 0);
	expect_msg("bound 4", r, "s1 again", &s1a, s1l);
	char b[8];
	if (recv(r, b, sizeof b, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		fail("the bound socket has more queued");
	if (recv(pr[0], b, sizeof b, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		fail("the pair has more queued");
	/* Still usable: s2 sends again, the pair sends back. */
	if (sendto(s2, "again", 5, 0, (void *)&ra, rl) != 5)
		fail("sendto after: %s", strerror(errno));
	expect_msg("bound 5", r, "again", &s2a, s2l);
	if (send(pr[0], "back", 4, 0) != 4)
		fail("send back: %s", strerror(errno));
	expect_msg("pair back", pr[1], "back", NULL, 0);
	unlink(s2a.sun_path);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return finish();
}
