// corpus: unix sockets whose bound name was unlinked, or bound again by another socket since
// expect: exact
#include "corpus.h"
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* Datagram socket A binds "rebind.sock"; the file is unlinked and socket B
 * binds the same name: both say "rebind.sock" (getsockname), but a datagram
 * sent to the path reaches B. Listener L binds "gone.sock", accepts a
 * connection, and the file is unlinked: the path stays absent, L keeps its
 * name, the connection works. All checked after ~1.5 s. */

static struct sockaddr_un addr(const char *name) {
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", name);
	return a;
}

static void name_is(const char *what, int fd, const char *want) {
	struct sockaddr_un a;
	socklen_t l = sizeof a;
	if (getsockname(fd, (struct sockaddr *)&a, &l) != 0 || strcmp(a.sun_path, want))
		fail("%s: bound to \"%s\", want \"%s\"", what, a.sun_path, want);
}

int main(void) {
	unlink("rebind.sock");
	unlink("gone.sock");
	struct sockaddr_un ra = addr("rebind.sock"), ga = addr("gone.sock");
	int a = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0), b = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (a < 0 || b < 0 || bind(a, (struct sockaddr *)&ra, sizeof ra) || unlink("rebind.sock") ||
	    bind(b, (struct sockaddr *)&ra, sizeof ra))
		die("bind rebind.sock twice");
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&ga, sizeof ga) || listen(l, 4) ||
	    connect(c, (struct sockaddr *)&ga, sizeof ga))
		die("listen on gone.sock");
	int s = accept(l, NULL, NULL);
	if (s < 0 || unlink("gone.sock"))
		die("accept");
	running("unix_rebind");
	work(NULL);
	name_is("A", a, "rebind.sock");
	name_is("B", b, "rebind.sock");
	name_is("L", l, "gone.sock");
	name_is("accepted", s, "gone.sock");
	int t = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (sendto(t, "ping", 4, 0, (struct sockaddr *)&ra, sizeof ra) != 4)
		fail("send to rebind.sock: %s", strerror(errno));
	char buf[8] = {0};
	sleep_ms(10);
	if (recv(b, buf, sizeof buf, 0) != 4 || strcmp(buf, "ping"))
		fail("B did not get what was sent to rebind.sock");
	if (recv(a, buf, sizeof buf, 0) >= 0 || errno != EAGAIN)
		fail("A got something");
	struct stat st;
	if (stat("gone.sock", &st) == 0 || errno != ENOENT)
		fail("gone.sock exists again");
	if (write(c, "hi", 2) != 2 || read(s, buf, 2) != 2 || strncmp(buf, "hi", 2))
		fail("the connection accepted through gone.sock");
	return finish();
}
