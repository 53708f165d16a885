// corpus: what --net=private gives no one: packet sockets to an ordinary user's app (no capability in crrun's user namespace), and ping sockets beyond what the host allows (the namespace gets the host's ping_group_range, narrowed to the app's group: the same answer before and after a restore)
// expect: exact
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int ping_ok = -1;

static void check(int i) {
	int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	if (s < 0 && errno != EACCES)
		fail("step %d: a ping socket: %s", i, strerror(errno));
	if (ping_ok < 0)
		ping_ok = s >= 0;
	else if (ping_ok != (s >= 0))
		fail("step %d: a ping socket %s, %s before", i, s >= 0 ? "allowed" : "refused", ping_ok ? "allowed" : "refused");
	if (s >= 0)
		close(s);
	int p = socket(AF_PACKET, SOCK_DGRAM, htons(0x88b5));
	if (getuid() == 0 ? p < 0 : (p >= 0 || errno != EPERM))
		fail("step %d: uid %d: a packet socket: %d %s", i, (int)getuid(), p, strerror(errno));
	if (p >= 0)
		close(p);
}

int main(void) {
	check(-1);
	running("packet_ping_denied");
	work(NULL);
	check(1000);
	return finish();
}
