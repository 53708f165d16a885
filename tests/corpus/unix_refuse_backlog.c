// corpus: a connection waiting in a listening unix socket's backlog with bytes already written into it, which crrun cannot read without accepting it
// expect: refuse has a connection not accepted yet with bytes queued in it
#include "corpus.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(void) {
	struct sockaddr_un la = {.sun_family = AF_UNIX};
	snprintf(la.sun_path + 1, sizeof la.sun_path - 1, "crrun-refuse-backlog-%d", (int)getpid());
	socklen_t ll = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(la.sun_path + 1);
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(l, (void *)&la, ll) || listen(l, 5) || connect(c, (void *)&la, ll) || write(c, "early", 5) != 5)
		die("connect");
	running("unix_refuse_backlog");
	work(NULL);
	char b[6] = {0};
	int a = accept(l, NULL, NULL);
	if (a < 0 || read(a, b, 5) != 5 || strcmp(b, "early"))
		fail("accept and read: %s", b);
	return finish();
}
