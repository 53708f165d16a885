// corpus: a packet socket that put lo in promiscuous mode (PACKET_ADD_MEMBERSHIP: no getsockopt reads memberships back)
// expect: refuse setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP) joins a multicast or promiscuous membership
// needs: root
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

int main(void) {
	int s = socket(AF_PACKET, SOCK_RAW, htons(0x88b5));
	if (s < 0)
		die("socket(AF_PACKET)");
	struct packet_mreq m = {.mr_ifindex = if_nametoindex("lo"), .mr_type = PACKET_MR_PROMISC};
	if (setsockopt(s, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &m, sizeof m))
		die("PACKET_ADD_MEMBERSHIP");
	running("packet_refuse_membership");
	work(NULL);
	/* the membership is still there: dropping it succeeds (EADDRNOTAVAIL if not) */
	if (setsockopt(s, SOL_PACKET, PACKET_DROP_MEMBERSHIP, &m, sizeof m))
		fail("the promiscuous membership is gone: %s", strerror(errno));
	return finish();
}
