// corpus: an obsolete SOCK_PACKET socket (socket(AF_PACKET, SOCK_PACKET, ...))
// expect: refuse socket(AF_PACKET, SOCK_PACKET) not supported yet
// needs: root
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <sys/socket.h>

int main(void) {
	int s = socket(AF_PACKET, SOCK_PACKET, htons(0x88b5));
	if (s < 0)
		die("socket(SOCK_PACKET)");
	running("packet_refuse_sockpacket");
	work(NULL);
	int t = 0;
	socklen_t l = sizeof t;
	if (getsockopt(s, SOL_SOCKET, SO_TYPE, &t, &l) || t != SOCK_PACKET)
		fail("type %d", t);
	return finish();
}
