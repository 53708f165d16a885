// corpus: urgent (out-of-band) TCP data not read yet inside the app, which crrun refuses
// expect: refuse urgent (out-of-band, MSG_OOB) data not read yet
// flags: --net=private
#include "inet_oob.h"

int main(void) {
	int c, s;
	tcp_pair(&c, &s);
	if (send(c, "abc", 3, 0) != 3 || send(c, "X", 1, MSG_OOB) != 1 || send(c, "def", 3, 0) != 3)
		die("send");
	wait_for(s, POLLPRI);
	running("inet_oob");
	work(NULL);
	char b[8] = {0};
	if (recv(s, b, 1, MSG_OOB) != 1 || b[0] != 'X')
		fail("the urgent byte: %c", b[0]);
	if (recv(s, b, sizeof b, 0) != 3 || memcmp(b, "abc", 3))
		fail("before the mark: %.3s", b);
	if (recv(s, b, sizeof b, 0) != 3 || memcmp(b, "def", 3))
		fail("after the mark: %.3s", b);
	return finish();
}
