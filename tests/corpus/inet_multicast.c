// corpus: UDP sockets in multicast groups (IPv4 any-source and source-specific, IPv6) on loopback, with IP_MULTICAST_IF/TTL/LOOP/ALL, IPV6_MULTICAST_IF, datagrams to an IPv4 group mid-loop
// expect: exact
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int rx, rx6, tx, tx6, port;

static int udp(int fam) {
	int s = socket(fam, SOCK_DGRAM, 0);
	if (s < 0)
		die("socket");
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	return s;
}

static int port_of(int s) {
	struct sockaddr_in6 a;
	socklen_t l = sizeof a;
	if (getsockname(s, (struct sockaddr *)&a, &l))
		die("getsockname");
	return ntohs(a.sin6_port);
}

/* filter reads s's source filter on group g at interface 1 (lo): -1 if
 * not a member, else the mode, with the first source in *src. */
static int filter(int s, int level, const char *g, char *src) {
	char buf[GROUP_FILTER_SIZE(4)];
	struct group_filter *f = (struct group_filter *)buf;
	memset(buf, 0, sizeof buf);
	f->gf_interface = 1;
	f->gf_numsrc = 4;
	if (level == IPPROTO_IP) {
		struct sockaddr_in *a = (struct sockaddr_in *)&f->gf_group;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, g, &a->sin_addr);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&f->gf_group;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, g, &a->sin6_addr);
	}
	socklen_t l = sizeof buf;
	if (getsockopt(s, level, MCAST_MSFILTER, f, &l))
		return errno == EADDRNOTAVAIL ? -1 : -2;
	src[0] = 0;
	if (f->gf_numsrc > 0)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&f->gf_slist[0])->sin_addr, src, 64);
	return f->gf_fmode == MCAST_INCLUDE ? 1 : 0;
}

static void send4(const char *g, const char *msg) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, g, &a.sin_addr);
	if (sendto(tx, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) < 0)
		fail("sendto %s: %s", g, strerror(errno));
}

/* expect reads the datagrams queued on s: want exactly, in order */
static void expect(int s, const char *what, const char *want) {
	char got[256] = {0}, buf[64];
	for (;;) {
		sleep_ms(1);
		ssize_t n = recv(s, buf, sizeof buf - 1, MSG_DONTWAIT);
		if (n < 0)
			break;
		buf[n] = 0;
		if (strlen(got) + n + 2 < sizeof got)
			strcat(strcat(got, buf), " ");
	}
	if (strcmp(got, want))
		fail("%s: got \"%s\", want \"%s\"", what, got, want);
}

static void step(int i) {
	char m[32];
	snprintf(m, sizeof m, "m%d", i);
	send4("239.1.2.3", m);
	char w[40];
	snprintf(w, sizeof w, "%s ", m);
	expect(rx, "any-source group", w);
}

int main(void) {
	rx = udp(AF_INET), tx = udp(AF_INET), rx6 = udp(AF_INET6), tx6 = udp(AF_INET6);
	struct sockaddr_in a = {.sin_family = AF_INET};
	if (bind(rx, (struct sockaddr *)&a, sizeof a))
		die("bind");
	port = port_of(rx);
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	if (bind(rx6, (struct sockaddr *)&a6, sizeof a6))
		die("bind6");
	struct ip_mreqn m = {.imr_ifindex = 1};
	inet_pton(AF_INET, "239.1.2.3", &m.imr_multiaddr);
	if (setsockopt(rx, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m))
		die("IP_ADD_MEMBERSHIP");
	struct ip_mreq_source ms = {0};
	inet_pton(AF_INET, "232.1.1.1", &ms.imr_multiaddr);
	inet_pton(AF_INET, "127.0.0.1", &ms.imr_interface);
	inet_pton(AF_INET, "127.0.0.1", &ms.imr_sourceaddr);
	if (setsockopt(rx, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &ms, sizeof ms))
		die("IP_ADD_SOURCE_MEMBERSHIP");
	/* an IPv4 group on the IPv6 socket, a source blocked; an IPv6 group
	 * (loopback has no IPv6 multicast route: joined, never sent to) */
	struct ip_mreq m2 = {0};
	inet_pton(AF_INET, "239.9.9.9", &m2.imr_multiaddr);
	inet_pton(AF_INET, "127.0.0.1", &m2.imr_interface);
	if (setsockopt(rx6, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m2, sizeof m2))
		die("IP_ADD_MEMBERSHIP on v6");
	struct ip_mreq_source bs = {0};
	inet_pton(AF_INET, "239.9.9.9", &bs.imr_multiaddr);
	inet_pton(AF_INET, "127.0.0.1", &bs.imr_interface);
	inet_pton(AF_INET, "10.1.2.3", &bs.imr_sourceaddr);
	if (setsockopt(rx6, IPPROTO_IP, IP_BLOCK_SOURCE, &bs, sizeof bs))
		die("IP_BLOCK_SOURCE");
	struct ipv6_mreq m6 = {.ipv6mr_interface = 1};
	inet_pton(AF_INET6, "ff12::1234", &m6.ipv6mr_multiaddr);
	if (setsockopt(rx6, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m6, sizeof m6))
		die("IPV6_JOIN_GROUP");
	struct in_addr lo;
	inet_pton(AF_INET, "127.0.0.1", &lo);
	if (setsockopt(tx, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo))
		die("IP_MULTICAST_IF");
	int ttl = 3, loop = 1, oif = 1, zero = 0;
	setsockopt(tx, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
	setsockopt(tx, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
	setsockopt(rx, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
	if (setsockopt(tx6, IPPROTO_IPV6, IPV6_MULTICAST_IF, &oif, sizeof oif))
		die("IPV6_MULTICAST_IF");
	step(0);

	running("inet_multicast");
	work(step);

	char src[64];
	int f;
	if ((f = filter(rx, IPPROTO_IP, "239.1.2.3", src)) != 0 || src[0])
		fail("239.1.2.3: mode %d sources %s, want exclude {}", f, src);
	if ((f = filter(rx, IPPROTO_IP, "232.1.1.1", src)) != 1 || strcmp(src, "127.0.0.1"))
		fail("232.1.1.1: mode %d sources %s, want include {127.0.0.1}", f, src);
	if ((f = filter(rx6, IPPROTO_IP, "239.9.9.9", src)) != 0 || strcmp(src, "10.1.2.3"))
		fail("239.9.9.9 on the v6 socket: mode %d sources %s, want exclude {10.1.2.3}", f, src);
	if ((f = filter(tx, IPPROTO_IP, "239.1.2.3", src)) != -1)
		fail("tx joined 239.1.2.3 (%d)", f);
	if ((f = filter(rx6, IPPROTO_IPV6, "ff12::1234", src)) != 0)
		fail("ff12::1234: mode %d", f);
	int v = 0;
	socklen_t l = sizeof v;
	getsockopt(tx, IPPROTO_IP, IP_MULTICAST_TTL, &v, &l);
	if (v != 3)
		fail("IP_MULTICAST_TTL %d", v);
	struct in_addr ifa = {0};
	l = sizeof ifa;
	getsockopt(tx, IPPROTO_IP, IP_MULTICAST_IF, &ifa, &l);
	if (ifa.s_addr != lo.s_addr)
		fail("IP_MULTICAST_IF %x", ifa.s_addr);
	l = sizeof v, v = 1;
	getsockopt(rx, IPPROTO_IP, IP_MULTICAST_ALL, &v, &l);
	if (v != 0)
		fail("IP_MULTICAST_ALL %d", v);
	l = sizeof v, v = 0;
	getsockopt(tx6, IPPROTO_IPV6, IPV6_MULTICAST_IF, &v, &l);
	if (v != 1)
		fail("IPV6_MULTICAST_IF %d", v);
	/* a fresh datagram still reaches the groups */
	send4("239.1.2.3", "after");
	expect(rx, "after the loop", "after ");
	return finish();
}
