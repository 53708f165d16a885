// corpus: ICMP ping sockets (IPv4 bound and connected with IP_TTL, IP_RECVERR, SO_RCVBUF; IPv4 unbound, its identifier from the first send; IPv6): echo requests to loopback answered mid-loop, same identifier and sequence after a restore
// expect: exact
// needs: root
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>

static int s, su, s6;
static unsigned short id, idu, id6, seq;

/* ident is the socket's ICMP echo identifier: its "port" */
static unsigned short ident(int fd) {
	struct sockaddr_storage a;
	socklen_t l = sizeof a;
	if (getsockname(fd, (struct sockaddr *)&a, &l))
		return 0;
	return ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port : ((struct sockaddr_in *)&a)->sin_port);
}

/* echo sends one echo request with sequence seq and payload "corpus <seq>"
 * on fd (to dst, or connected when dst is NULL) and waits for its reply:
 * same identifier (the kernel's, want), sequence and payload. */
static void echo(int i, int fd, int v6, const struct sockaddr *dst, socklen_t dl, unsigned short want) {
	char pkt[64] = {0}, buf[256];
	int type = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	pkt[0] = type;
	*(unsigned short *)(pkt + 6) = htons(seq);
	int n = 8 + snprintf(pkt + 8, sizeof pkt - 8, "corpus %u", seq);
	ssize_t r = dst ? sendto(fd, pkt, n, 0, dst, dl) : send(fd, pkt, n, 0);
	if (r != n) {
		fail("step %d: send: %s", i, strerror(errno));
		return;
	}
	for (int tries = 0; tries < 1000; tries++) {
		r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (r < 0) {
			sleep_ms(1);
			continue;
		}
		unsigned rid = ntohs(*(unsigned short *)(buf + 4)), rseq = ntohs(*(unsigned short *)(buf + 6));
		if ((unsigned char)buf[0] != (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY) || rid != want || rseq != seq || r != n ||
		    memcmp(buf + 8, pkt + 8, n - 8))
			fail("step %d: reply type %d id %u (want %u) seq %u (want %u) %zd bytes", i, buf[0], rid, want, rseq, seq, r);
		return;
	}
	fail("step %d: no echo reply (seq %u)", i, seq);
}

static void step(int i) {
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr = {htonl(INADDR_LOOPBACK)}};
	struct sockaddr_in6 lo6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	if (i % 10) /* an echo on each every 100 ms: the checkpoint lands between them */
		return;
	seq++;
	echo(i, s, 0, NULL, 0, id);
	echo(i, su, 0, (struct sockaddr *)&lo, sizeof lo, idu);
	echo(i, s6, 1, (struct sockaddr *)&lo6, sizeof lo6, id6);
}

static int getint(int fd, int level, int opt) {
	int v = -1;
	socklen_t l = sizeof v;
	if (getsockopt(fd, level, opt, &v, &l))
		return -2;
	return v;
}

int main(void) {
#ifndef PING_HOST_NETWORK /* TestPingHost: the host's range, which the test widened */
	/* Nobody may make ping sockets in a new network namespace ("1 0"):
	 * root there lets its own group. */
	int f = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY);
	if (f < 0 || write(f, "0 0\n", 4) != 4)
		die("ping_group_range");
	close(f);
#endif
	s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	su = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	s6 = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
	if (s < 0 || su < 0 || s6 < 0)
		die("socket(ICMP ping)");
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr = {htonl(INADDR_LOOPBACK)}};
	if (bind(s, (struct sockaddr *)&lo, sizeof lo) || connect(s, (struct sockaddr *)&lo, sizeof lo))
		die("bind, connect");
	int ttl = 17, one = 1, rcv = 65536, hops = 9;
	if (setsockopt(s, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) || setsockopt(s, IPPROTO_IP, IP_RECVERR, &one, sizeof one) ||
	    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv) || setsockopt(s6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops))
		die("setsockopt");
	id = ident(s);
	seq = 1;
	echo(-1, s, 0, NULL, 0, id); /* su's identifier comes with its first send */
	struct sockaddr_in6 lo6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	sendto(su, &(struct icmphdr){.type = ICMP_ECHO}, 8, 0, (struct sockaddr *)&lo, sizeof lo);
	sendto(s6, &(struct icmp6_hdr){.icmp6_type = ICMP6_ECHO_REQUEST}, 8, 0, (struct sockaddr *)&lo6, sizeof lo6);
	idu = ident(su), id6 = ident(s6);
	char b[64];
	for (int tries = 0; tries < 1000 && (recv(su, b, sizeof b, MSG_DONTWAIT) < 0 || recv(s6, b, sizeof b, MSG_DONTWAIT) < 0); tries++)
		sleep_ms(1);
	if (!id || !idu || !id6)
		fail("no identifiers: %u %u %u", id, idu, id6);

	running("inet_ping");
	work(step);

	if (ident(s) != id || ident(su) != idu || ident(s6) != id6)
		fail("identifiers %u %u %u, were %u %u %u", ident(s), ident(su), ident(s6), id, idu, id6);
	if (getint(s, IPPROTO_IP, IP_TTL) != 17 || getint(s, IPPROTO_IP, IP_RECVERR) != 1 || getint(s, SOL_SOCKET, SO_RCVBUF) != 2 * rcv)
		fail("options: IP_TTL %d IP_RECVERR %d SO_RCVBUF %d", getint(s, IPPROTO_IP, IP_TTL), getint(s, IPPROTO_IP, IP_RECVERR),
		     getint(s, SOL_SOCKET, SO_RCVBUF));
	if (getint(s6, IPPROTO_IPV6, IPV6_UNICAST_HOPS) != 9)
		fail("IPV6_UNICAST_HOPS %d", getint(s6, IPPROTO_IPV6, IPV6_UNICAST_HOPS));
	if (getint(s, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_ICMP || getint(s6, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_ICMPV6 ||
	    getint(s, SOL_SOCKET, SO_TYPE) != SOCK_DGRAM)
		fail("type or protocol lost");
	step(0); /* still connected: s sends without an address */
	printf("sequence %u\n", seq);
	return finish();
}
