// corpus: an ICMP ping socket holding the kernel's echo reply, not read across the checkpoint (nothing can queue it again as it was)
// expect: refuse has replies queued and not read yet
// status: blind the queue is refused only after the freeze's second of retries (the app may read it meanwhile)
// needs: root
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>

int main(void) {
	int f = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY);
	if (f < 0 || write(f, "0 0\n", 4) != 4)
		die("ping_group_range");
	close(f);
	int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	if (s < 0)
		die("socket(ICMP ping)");
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr = {htonl(INADDR_LOOPBACK)}};
	struct icmphdr h = {.type = ICMP_ECHO, .un.echo.sequence = htons(7)};
	if (sendto(s, &h, sizeof h, 0, (struct sockaddr *)&lo, sizeof lo) != sizeof h)
		die("sendto");
	running("inet_ping_refuse_queued");
	work(NULL); /* twice: the checkpoint waits a second for the queue to empty */
	work(NULL);
	struct icmphdr r;
	if (recv(s, &r, sizeof r, MSG_DONTWAIT) != sizeof r || r.type != ICMP_ECHOREPLY || ntohs(r.un.echo.sequence) != 7)
		fail("the reply is gone: %s", strerror(errno));
	return finish();
}
