// corpus: a UDP socket that joined a multicast group (the kernel shows no membership per socket: a sticky taint)
// expect: refuse multicast group membership (setsockopt) not supported yet
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

int main(void) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		die("socket");
	struct ip_mreq m = {.imr_multiaddr.s_addr = inet_addr("239.1.2.3"), .imr_interface.s_addr = htonl(INADDR_LOOPBACK)};
	/* whether the join succeeds depends on the host's interfaces: the
	 * call itself taints */
	int joined = setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) == 0;
	running("inet_multicast");
	work(NULL);
	if (joined && setsockopt(s, IPPROTO_IP, IP_DROP_MEMBERSHIP, &m, sizeof m))
		fail("drop membership: %s", strerror(errno));
	return finish();
}
