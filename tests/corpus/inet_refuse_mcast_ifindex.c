// corpus: IP_MULTICAST_IF chosen by interface index (struct ip_mreqn), which getsockopt does not show (a sticky taint)
// expect: refuse IP_MULTICAST_IF by interface index (struct ip_mreqn: getsockopt shows only the address) not supported yet
// needs: root
#include "corpus.h"
#include <netinet/in.h>
#include <sys/socket.h>

int main(void) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		die("socket");
	struct ip_mreqn m = {.imr_ifindex = 1};
	if (setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m))
		die("IP_MULTICAST_IF");
	running("inet_refuse_mcast_ifindex");
	work(NULL);
	struct in_addr a = {1};
	socklen_t l = sizeof a;
	if (getsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &a, &l) || a.s_addr != 0)
		fail("IP_MULTICAST_IF reads %x", a.s_addr);
	return finish();
}
