// corpus: raw IP sockets (ICMP with ICMP_FILTER, bound and connected; IPPROTO_RAW with IP_HDRINCL; ICMPv6 with ICMPV6_FILTER): echo requests to loopback answered mid-loop
// expect: exact
// needs: root
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>

static int s, craw, s6;
static unsigned short seq;

static unsigned short csum(void *p, int n) {
	unsigned long sum = 0;
	unsigned short *w = p;
	for (; n > 1; n -= 2)
		sum += *w++;
	if (n)
		sum += *(unsigned char *)w;
	sum = (sum >> 16) + (sum & 0xffff);
	sum += sum >> 16;
	return ~sum;
}

/* ping sends an echo request to 127.0.0.1 and waits for its reply on s
 * (ICMP_FILTER lets only echo replies through) */
static void ping(int i) {
	struct icmphdr h = {.type = ICMP_ECHO, .un.echo = {.id = htons(0x7e57), .sequence = htons(++seq)}};
	h.checksum = csum(&h, sizeof h);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (sendto(s, &h, sizeof h, 0, (struct sockaddr *)&a, sizeof a) != sizeof h) {
		fail("step %d: sendto: %s", i, strerror(errno));
		return;
	}
	char buf[256];
	for (int tries = 0; tries < 100; tries++) {
		ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
		if (n < 0) {
			sleep_ms(1);
			continue;
		}
		struct iphdr *ip = (struct iphdr *)buf;
		struct icmphdr *r = (struct icmphdr *)(buf + ip->ihl * 4);
		if (r->type != ICMP_ECHOREPLY)
			fail("step %d: ICMP type %d passed the filter", i, r->type);
		else if (ntohs(r->un.echo.sequence) == seq)
			return;
	}
	fail("step %d: no echo reply", i);
}

int main(void) {
	s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	craw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	s6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	if (s < 0 || craw < 0 || s6 < 0)
		die("socket(SOCK_RAW)");
	struct icmp_filter f = {~(1u << ICMP_ECHOREPLY)};
	if (setsockopt(s, SOL_RAW, ICMP_FILTER, &f, sizeof f))
		die("ICMP_FILTER");
	struct sockaddr_in lo = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
	if (bind(s, (struct sockaddr *)&lo, sizeof lo))
		die("bind");
	if (connect(craw, (struct sockaddr *)&lo, sizeof lo))
		die("connect");
	struct icmp6_filter f6;
	memset(&f6, 0xff, sizeof f6);
	f6.data[ICMPV6_ECHO_REPLY >> 5] &= ~(1u << (ICMPV6_ECHO_REPLY & 31));
	if (setsockopt(s6, IPPROTO_ICMPV6, ICMPV6_FILTER, &f6, sizeof f6))
		die("ICMPV6_FILTER");
	int ttl = 17, one = 1;
	setsockopt(s, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
	if (setsockopt(s, IPPROTO_IP, IP_NODEFRAG, &one, sizeof one))
		die("IP_NODEFRAG");
	ping(0);

	running("inet_raw");
	work(ping);

	struct icmp_filter g = {0};
	socklen_t l = sizeof g;
	if (getsockopt(s, SOL_RAW, ICMP_FILTER, &g, &l) || g.data != f.data)
		fail("ICMP_FILTER %x, want %x", g.data, f.data);
	struct icmp6_filter g6;
	l = sizeof g6;
	if (getsockopt(s6, IPPROTO_ICMPV6, ICMPV6_FILTER, &g6, &l) || memcmp(&g6, &f6, sizeof f6))
		fail("ICMPV6_FILTER lost");
	int v = 0;
	l = sizeof v;
	if (getsockopt(craw, IPPROTO_IP, IP_HDRINCL, &v, &l) || !v)
		fail("IP_HDRINCL %d", v);
	getsockopt(s, IPPROTO_IP, IP_TTL, &v, &l);
	if (v != 17)
		fail("IP_TTL %d", v);
	v = 0;
	getsockopt(s, IPPROTO_IP, IP_NODEFRAG, &v, &l);
	if (!v)
		fail("IP_NODEFRAG lost");
	int p = 0;
	l = sizeof p;
	if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &p, &l) || p != IPPROTO_ICMP)
		fail("protocol %d", p);
	struct sockaddr_in a;
	l = sizeof a;
	if (getsockname(s, (struct sockaddr *)&a, &l) || a.sin_addr.s_addr != lo.sin_addr.s_addr)
		fail("the ICMP socket is not bound to 127.0.0.1 any more");
	/* the connected socket sends without an address */
	char pkt[sizeof(struct iphdr) + sizeof(struct icmphdr)] = {0};
	struct iphdr *ip = (struct iphdr *)pkt;
	ip->version = 4, ip->ihl = 5, ip->ttl = 9, ip->protocol = IPPROTO_ICMP, ip->tot_len = htons(sizeof pkt);
	ip->saddr = ip->daddr = lo.sin_addr.s_addr;
	struct icmphdr *h = (struct icmphdr *)(pkt + sizeof *ip);
	h->type = ICMP_ECHO, h->un.echo.id = htons(0x7e57), h->un.echo.sequence = htons(++seq);
	h->checksum = csum(h, sizeof *h);
	if (send(craw, pkt, sizeof pkt, 0) != sizeof pkt)
		fail("send on the connected raw socket: %s", strerror(errno));
	else {
		char buf[256];
		int got = 0;
		for (int tries = 0; tries < 100 && !got; tries++) {
			ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
			if (n < 0) {
				sleep_ms(1);
				continue;
			}
			struct icmphdr *r = (struct icmphdr *)(buf + ((struct iphdr *)buf)->ihl * 4);
			got = r->type == ICMP_ECHOREPLY && ntohs(r->un.echo.sequence) == seq;
		}
		if (!got)
			fail("no reply to the connected socket's echo");
	}
	ping(999);
	return finish();
}
