// corpus: a TCP reader of the app that read the out-of-band byte and not yet the bytes before its mark (the bytes after it would be lost), which crrun refuses
// expect: refuse before an urgent (out-of-band, MSG_OOB) mark the app reads towards
// status: blind SIOCINQ is compared with inet_diag's receive queue, which differ while bytes arrive unless the app is frozen
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
	sleep_ms(20); /* "def" in too */
	running("inet_oob_read");
	work(NULL);
	if (recv(s, b, sizeof b, 0) != 3 || memcmp(b, "abc", 3))
		fail("before the mark: %.3s", b);
	if (recv(s, b, sizeof b, MSG_DONTWAIT) != 3 || memcmp(b, "def", 3))
		fail("after the mark: %.3s", b);
	return finish();
}
