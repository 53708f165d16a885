// corpus: a packet socket holding a frame it received on lo, not read across the checkpoint (it came from an interface: nothing can queue it again as it was)
// expect: refuse has frames queued and not read yet
// status: blind the queue is refused only after the freeze's second of retries (the app may read it meanwhile)
// needs: root
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

int main(void) {
	int lo = if_nametoindex("lo");
	int rx = socket(AF_PACKET, SOCK_DGRAM, htons(0x88b5)), tx = socket(AF_PACKET, SOCK_DGRAM, 0);
	if (!lo || rx < 0 || tx < 0)
		die("socket(AF_PACKET)");
	struct sockaddr_ll a = {.sll_family = AF_PACKET, .sll_protocol = htons(0x88b5), .sll_ifindex = lo, .sll_halen = ETH_ALEN};
	if (bind(rx, (struct sockaddr *)&a, sizeof a))
		die("bind");
	if (sendto(tx, "queued", 6, 0, (struct sockaddr *)&a, sizeof a) != 6)
		die("sendto");
	running("packet_refuse_queued");
	work(NULL); /* twice: the checkpoint waits a second for the queue to empty */
	work(NULL);
	char b[16];
	if (recv(rx, b, sizeof b, MSG_DONTWAIT) != 6 || memcmp(b, "queued", 6))
		fail("the frame is gone: %s", strerror(errno));
	return finish();
}
