// corpus: what --net=private gives no one: ping sockets (crrun leaves the new namespace's ping_group_range at "1 0") and, to an ordinary user's app, packet sockets (no capability in crrun's user namespace), before and after a restore
// expect: exact
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/socket.h>

static void check(int i) {
	int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	if (s >= 0 || errno != EACCES)
		fail("step %d: a ping socket: %d %s", i, s, strerror(errno));
	if (s >= 0)
		close(s);
	int p = socket(AF_PACKET, SOCK_DGRAM, htons(0x88b5));
	if (getuid() == 0 ? p < 0 : (p >= 0 || errno != EPERM))
		fail("step %d: uid %d: a packet socket: %d %s", i, (int)getuid(), p, strerror(errno));
	if (p >= 0)
		close(p);
	char r[64] = "";
	FILE *f = fopen("/proc/sys/net/ipv4/ping_group_range", "r");
	if (!f || !fgets(r, sizeof r, f))
		fail("step %d: ping_group_range unreadable", i);
	else if (getuid() == 0 && strcmp(r, "1\t0\n"))
		fail("step %d: ping_group_range %s", i, r);
	if (f)
		fclose(f);
}

int main(void) {
	check(-1);
	running("packet_ping_denied");
	work(NULL);
	check(1000);
	return finish();
}
