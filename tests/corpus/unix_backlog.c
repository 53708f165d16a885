// corpus: connections waiting in a listening unix socket's backlog (an unbound and a bound connecting socket), accepted after the restore in order, then carrying data
// expect: exact
#include "corpus.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(void) {
	struct sockaddr_un la = {.sun_family = AF_UNIX}, ca = {.sun_family = AF_UNIX};
	snprintf(la.sun_path, sizeof la.sun_path, "backlog-%d.sock", (int)getpid());
	unlink(la.sun_path);
	snprintf(ca.sun_path + 1, sizeof ca.sun_path - 1, "crrun-backlog-c2-%d", (int)getpid());
	socklen_t cl = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(ca.sun_path + 1);
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c1 = socket(AF_UNIX, SOCK_STREAM, 0), c2 = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(l, (void *)&la, sizeof la) || listen(l, 5))
		die("listen");
	if (bind(c2, (void *)&ca, cl) || connect(c1, (void *)&la, sizeof la) || connect(c2, (void *)&la, sizeof la))
		die("connect");
	running("unix_backlog");
	work(NULL);
	if (write(c1, "one", 3) != 3 || write(c2, "two", 3) != 3)
		fail("write: %s", strerror(errno));
	struct sockaddr_un pa;
	socklen_t pl = sizeof pa;
	char b[4] = {0};
	int a1 = accept(l, (void *)&pa, &pl);
	if (a1 < 0 || pl > offsetof(struct sockaddr_un, sun_path) || read(a1, b, 3) != 3 || strcmp(b, "one"))
		fail("first accepted: fd %d, address of %d bytes, read %s", a1, (int)pl, b);
	pl = sizeof pa;
	int a2 = accept(l, (void *)&pa, &pl);
	if (a2 < 0 || pl != cl || memcmp(&pa, &ca, cl) || read(a2, b, 3) != 3 || strcmp(b, "two"))
		fail("second accepted: fd %d, address of %d bytes, read %s", a2, (int)pl, b);
	struct sockaddr_un na;
	socklen_t nl = sizeof na;
	if (getpeername(c1, (void *)&na, &nl) || strcmp(na.sun_path, la.sun_path))
		fail("c1's peer: %s", na.sun_path);
	if (write(a1, "ok", 2) != 2 || read(c1, b, 2) != 2 || memcmp(b, "ok", 2))
		fail("back to c1");
	int fl = fcntl(l, F_GETFL);
	fcntl(l, F_SETFL, fl | O_NONBLOCK);
	if (accept(l, NULL, NULL) != -1 || errno != EAGAIN)
		fail("a third connection waits");
	unlink(la.sun_path);
	return finish();
}
