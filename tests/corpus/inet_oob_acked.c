// corpus: a TCP connection of the app that sent urgent (MSG_OOB) data, read and acknowledged before the checkpoint: nothing urgent is in flight, so it is saved, and urgent data works on it after the restore
// expect: exact
// flags: --net=private
#include "inet_oob.h"

int main(void) {
	int c, s;
	tcp_pair(&c, &s);
	if (send(c, "abc", 3, 0) != 3 || send(c, "X", 1, MSG_OOB) != 1 || send(c, "def", 3, 0) != 3)
		die("send");
	wait_for(s, POLLPRI);
	char b[8] = {0};
	if (recv(s, b, 1, MSG_OOB) != 1 || b[0] != 'X')
		die("the urgent byte");
	for (int got = 0; got < 6;) {
		wait_for(s, POLLIN);
		ssize_t n = recv(s, b + got, sizeof b - got, 0);
		if (n <= 0)
			die("recv");
		got += n;
	}
	if (memcmp(b, "abcdef", 6))
		die("the ordinary bytes");
	running("inet_oob_acked");
	work(NULL);
	/* Urgent data still works both ways. */
	if (send(s, "gh", 2, 0) != 2 || send(s, "Y", 1, MSG_OOB) != 1)
		fail("send back: %s", strerror(errno));
	wait_for(c, POLLPRI);
	memset(b, 0, sizeof b);
	if (recv(c, b, sizeof b, 0) != 2 || memcmp(b, "gh", 2))
		fail("before the second mark: %.2s", b);
	if (recv(c, b, 1, MSG_OOB) != 1 || b[0] != 'Y')
		fail("the second urgent byte: %c", b[0]);
	return finish();
}
