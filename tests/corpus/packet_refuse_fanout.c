// corpus: two packet sockets in one fanout group (PACKET_FANOUT: a group shared between sockets)
// expect: refuse setsockopt(SOL_PACKET, PACKET_FANOUT) joins a fanout group
// needs: root
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

int main(void) {
	int a = socket(AF_PACKET, SOCK_RAW, htons(0x88b5)), b = socket(AF_PACKET, SOCK_RAW, htons(0x88b5));
	if (a < 0 || b < 0)
		die("socket(AF_PACKET)");
	int v = 42 | PACKET_FANOUT_HASH << 16;
	if (setsockopt(a, SOL_PACKET, PACKET_FANOUT, &v, sizeof v) || setsockopt(b, SOL_PACKET, PACKET_FANOUT, &v, sizeof v))
		die("PACKET_FANOUT");
	running("packet_refuse_fanout");
	work(NULL);
	int g = 0;
	socklen_t l = sizeof g;
	if (getsockopt(b, SOL_PACKET, PACKET_FANOUT, &g, &l) || (g & 0xffff) != 42)
		fail("fanout group %#x", g);
	return finish();
}
