// corpus: UDP sockets (IPv4 and IPv6): bound, connected, with options and datagrams queued from several sources
// expect: exact
// chain: no it queues an empty datagram: one a first checkpoint peeked is refused by the second (TestInetUDPEmptyDatagramTwice)
#include "corpus.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int udp(int fam, const char *ip) {
	int s = socket(fam, SOCK_DGRAM, 0);
	if (s < 0)
		die("socket");
	if (fam == AF_INET) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		inet_pton(AF_INET, ip, &a.sin_addr);
		if (bind(s, (struct sockaddr *)&a, sizeof a))
			die("bind v4");
	} else {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6};
		inet_pton(AF_INET6, ip, &a.sin6_addr);
		if (bind(s, (struct sockaddr *)&a, sizeof a))
			die("bind v6");
	}
	return s;
}

static int port_of(int s) {
	struct sockaddr_in6 a;
	socklen_t l = sizeof a;
	if (getsockname(s, (struct sockaddr *)&a, &l))
		die("getsockname");
	return ntohs(a.sin6_port);
}

static void send_to(int from, int fam, const char *ip, int port, const char *msg) {
	if (fam == AF_INET) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
		inet_pton(AF_INET, ip, &a.sin_addr);
		if (sendto(from, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) < 0)
			die("sendto v4");
	} else {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
		inet_pton(AF_INET6, ip, &a.sin6_addr);
		if (sendto(from, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) < 0)
			die("sendto v6");
	}
}

/* expect reads one datagram and checks its bytes and source port. */
static void expect(int s, const char *want, int from_port) {
	char buf[256];
	struct sockaddr_in6 a;
	socklen_t l = sizeof a;
	ssize_t n = recvfrom(s, buf, sizeof buf - 1, MSG_DONTWAIT, (struct sockaddr *)&a, &l);
	if (n < 0) {
		fail("no datagram %s: %s", want, strerror(errno));
		return;
	}
	buf[n] = 0;
	int port = ntohs(a.sin6_port); /* same offset in sockaddr_in */
	if (strcmp(buf, want) || port != from_port)
		fail("datagram %s from port %d, want %s from %d", buf, port, want, from_port);
}

int main(void) {
	int rx = udp(AF_INET, "127.0.0.1"), tx = udp(AF_INET, "0.0.0.0"), rx6 = udp(AF_INET6, "::"), tx6 = udp(AF_INET6, "::1");
	int conn = udp(AF_INET, "127.0.0.1");
	int prx = port_of(rx), ptx = port_of(tx), prx6 = port_of(rx6), ptx6 = port_of(tx6), pconn = port_of(conn);
	int one = 1, v = 12345;
	setsockopt(rx, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
	setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
	int rcvbuf, l0 = sizeof rcvbuf;
	getsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, (socklen_t *)&l0);
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(ptx)};
	inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
	if (connect(conn, (struct sockaddr *)&peer, sizeof peer))
		die("connect");
	/* queued and not read across the checkpoint */
	send_to(tx, AF_INET, "127.0.0.1", prx, "first");
	send_to(conn, AF_INET, "127.0.0.1", prx, "second");
	send_to(tx, AF_INET, "127.0.0.1", prx, "");
	send_to(tx6, AF_INET6, "::1", prx6, "six");
	send_to(tx, AF_INET, "127.0.0.1", prx6, "mapped");
	if (send(conn, "to-tx", 5, 0) != 5)
		die("send");
	int tmp = udp(AF_INET, "127.0.0.1"), ptmp = port_of(tmp);
	send_to(tmp, AF_INET, "127.0.0.1", prx, "gone");
	close(tmp);
	running("inet_udp");
	work(NULL);
	if (port_of(rx) != prx || port_of(tx) != ptx || port_of(rx6) != prx6 || port_of(tx6) != ptx6 || port_of(conn) != pconn)
		fail("ports moved");
	int b = 0, l = sizeof b;
	getsockopt(rx, SOL_SOCKET, SO_BROADCAST, &b, (socklen_t *)&l);
	int rb = 0;
	getsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rb, (socklen_t *)&l);
	if (!b || rb != rcvbuf)
		fail("options lost: SO_BROADCAST %d SO_RCVBUF %d (want %d)", b, rb, rcvbuf);
	expect(rx, "first", ptx);
	expect(rx, "second", pconn);
	expect(rx, "", ptx);
	expect(rx, "gone", ptmp);
	expect(rx6, "six", ptx6);
	expect(rx6, "mapped", ptx);
	expect(tx, "to-tx", pconn);
	struct sockaddr_in6 pa;
	socklen_t pl = sizeof pa;
	if (getpeername(conn, (struct sockaddr *)&pa, &pl) || ntohs(pa.sin6_port) != ptx)
		fail("connected socket lost its peer");
	/* the connected socket takes datagrams from its peer only */
	send_to(rx, AF_INET, "127.0.0.1", pconn, "not-from-peer");
	send_to(tx, AF_INET, "127.0.0.1", pconn, "from-peer");
	expect(conn, "from-peer", ptx);
	return finish();
}
