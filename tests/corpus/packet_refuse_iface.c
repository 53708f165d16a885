// corpus: a packet socket bound to a veth interface the app made in its own network namespace (a restore makes lo only)
// expect: refuse is not as a restore makes it (lo up, nothing else): dev: interface crv
// needs: root
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

int main(void) {
	if (system("PATH=/usr/sbin:/sbin:$PATH ip link add crv0 type veth peer name crv1") != 0)
		die("ip link add veth");
	int idx = if_nametoindex("crv0");
	int s = socket(AF_PACKET, SOCK_DGRAM, htons(0x88b5));
	if (!idx || s < 0)
		die("socket(AF_PACKET)");
	struct sockaddr_ll a = {.sll_family = AF_PACKET, .sll_protocol = htons(0x88b5), .sll_ifindex = idx};
	if (bind(s, (struct sockaddr *)&a, sizeof a))
		die("bind");
	running("packet_refuse_iface");
	work(NULL);
	struct sockaddr_ll b;
	socklen_t l = sizeof b;
	if (getsockname(s, (struct sockaddr *)&b, &l) || b.sll_ifindex != idx)
		fail("no longer bound to crv0");
	return finish();
}
