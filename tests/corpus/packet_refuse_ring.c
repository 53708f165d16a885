// corpus: a packet socket with a receive ring (PACKET_RX_RING: frames in pages shared with the app, which no getsockopt shows)
// expect: refuse setsockopt(SOL_PACKET, PACKET_RX_RING) sets up a receive ring
// needs: root
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>

int main(void) {
	int s = socket(AF_PACKET, SOCK_RAW, htons(0x88b5));
	if (s < 0)
		die("socket(AF_PACKET)");
	struct tpacket_req req = {.tp_block_size = 4096, .tp_block_nr = 4, .tp_frame_size = 2048, .tp_frame_nr = 8};
	if (setsockopt(s, SOL_PACKET, PACKET_RX_RING, &req, sizeof req))
		die("PACKET_RX_RING");
	void *ring = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	if (ring == MAP_FAILED)
		die("mmap");
	running("packet_refuse_ring");
	work(NULL);
	struct tpacket_hdr *h = ring;
	if (h->tp_status != TP_STATUS_KERNEL)
		fail("ring frame 0 status %lu", h->tp_status);
	return finish();
}
