// corpus: a TCP reader of the app stopped at the urgent mark (the out-of-band byte read, the bytes after it not yet), which crrun refuses
// expect: refuse the app reads at the urgent (out-of-band, MSG_OOB) mark
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
	if (recv(s, b, sizeof b, 0) != 3 || memcmp(b, "abc", 3))
		die("before the mark");
	int at = 0;
	if (ioctl(s, SIOCATMARK, &at) || !at)
		die("not at the mark");
	running("inet_atmark");
	work(NULL);
	if (recv(s, b, sizeof b, MSG_DONTWAIT) != 3 || memcmp(b, "def", 3))
		fail("after the mark: %.3s", b);
	return finish();
}
