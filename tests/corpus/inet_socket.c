// corpus: a TCP socket (AF_INET), which crrun cannot save yet
// expect: refuse socket(AF_INET) not supported yet
#include "corpus.h"
#include <sys/socket.h>
#include <netinet/in.h>

int main(void) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		die("socket");
	running("inet_socket");
	work(NULL);
	int type = 0;
	socklen_t l = sizeof type;
	if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &l) || type != SOCK_STREAM)
		fail("fd %d is not a stream socket any more", s);
	return finish();
}
