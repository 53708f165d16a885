// corpus: a raw IP socket, which crrun does not save
// expect: refuse socket(AF_INET, SOCK_RAW) not supported yet
// needs: root
#include "corpus.h"
#include <netinet/in.h>
#include <sys/socket.h>

int main(void) {
	int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (s < 0)
		die("socket(SOCK_RAW)");
	running("inet_raw");
	work(NULL);
	int type = 0;
	socklen_t l = sizeof type;
	if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &l) || type != SOCK_RAW)
		fail("fd %d is not a raw socket any more", s);
	return finish();
}
