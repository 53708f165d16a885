// corpus: TCP listening sockets (IPv4 and IPv6) with options and backlog, a bound unconnected TCP socket; accepting after the restore
// expect: exact
#include "corpus.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static int geti(int s, int level, int opt) {
	int v = -1;
	socklen_t l = sizeof v;
	if (getsockopt(s, level, opt, &v, &l))
		fail("getsockopt(%d, %d): %s", level, opt, strerror(errno));
	return v;
}

static int port_of(int s) {
	struct sockaddr_in6 a;
	socklen_t l = sizeof a;
	if (getsockname(s, (struct sockaddr *)&a, &l))
		die("getsockname");
	return ntohs(a.sin6_port);
}

/* roundtrip connects to port on addr (family fam), sends a byte, gets it
 * back through the accepted socket. */
static void roundtrip(int lst, int fam, int port) {
	int c = socket(fam, SOCK_STREAM, 0);
	if (c < 0)
		die("socket");
	int r;
	if (fam == AF_INET) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		r = connect(c, (struct sockaddr *)&a, sizeof a);
	} else {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_loopback};
		r = connect(c, (struct sockaddr *)&a, sizeof a);
	}
	if (r) {
		fail("connect to port %d: %s", port, strerror(errno));
		close(c);
		return;
	}
	int a = accept(lst, NULL, NULL);
	if (a < 0) {
		fail("accept on port %d: %s", port, strerror(errno));
		close(c);
		return;
	}
	if (geti(a, IPPROTO_TCP, TCP_NODELAY) != 1)
		fail("accepted socket lost the listener's TCP_NODELAY");
	char b = 'x';
	if (write(c, &b, 1) != 1 || read(a, &b, 1) != 1 || b != 'x')
		fail("no byte through port %d", port);
	close(a);
	close(c);
}

int main(void) {
	int l4 = socket(AF_INET, SOCK_STREAM, 0), l6 = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0), b4 = socket(AF_INET, SOCK_STREAM, 0);
	int fresh = socket(AF_INET, SOCK_STREAM, 0);
	if (l4 < 0 || l6 < 0 || b4 < 0 || fresh < 0)
		die("socket");
	int one = 1, v;
	setsockopt(l4, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(l4, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(l4, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	v = 77;
	setsockopt(l4, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v);
	v = 0x10;
	setsockopt(l4, IPPROTO_IP, IP_TOS, &v, sizeof v);
	v = 33;
	setsockopt(l4, IPPROTO_IP, IP_TTL, &v, sizeof v);
	v = 50000;
	setsockopt(l4, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
	struct linger lg = {1, 5};
	setsockopt(l4, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	setsockopt(l4, IPPROTO_TCP, TCP_CONGESTION, "reno", 4);
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(l4, (struct sockaddr *)&a4, sizeof a4) || listen(l4, 7))
		die("bind/listen v4");
	setsockopt(l6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	setsockopt(l6, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	setsockopt(l6, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(l6, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3);
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = in6addr_any};
	if (bind(l6, (struct sockaddr *)&a6, sizeof a6) || listen(l6, 3))
		die("bind/listen v6");
	if (bind(b4, (struct sockaddr *)&a4, sizeof a4))
		die("bind b4");
	int p4 = port_of(l4), p6 = port_of(l6), pb = port_of(b4);
	int rcvbuf = geti(l4, SOL_SOCKET, SO_RCVBUF);
	running("inet_listen");
	work(NULL);
	if (port_of(l4) != p4 || port_of(l6) != p6 || port_of(b4) != pb)
		fail("ports moved");
	if (geti(l4, SOL_SOCKET, SO_ACCEPTCONN) != 1 || geti(l6, SOL_SOCKET, SO_ACCEPTCONN) != 1 || geti(b4, SOL_SOCKET, SO_ACCEPTCONN) != 0)
		fail("listening state lost");
	if (geti(l4, SOL_SOCKET, SO_REUSEADDR) != 1 || geti(l4, SOL_SOCKET, SO_KEEPALIVE) != 1 || geti(l4, IPPROTO_TCP, TCP_KEEPIDLE) != 77 ||
	    geti(l4, IPPROTO_IP, IP_TOS) != 0x10 || geti(l4, IPPROTO_IP, IP_TTL) != 33 || geti(l4, SOL_SOCKET, SO_RCVBUF) != rcvbuf)
		fail("v4 listener options lost");
	struct linger lg2;
	socklen_t ll = sizeof lg2;
	if (getsockopt(l4, SOL_SOCKET, SO_LINGER, &lg2, &ll) || lg2.l_onoff != 1 || lg2.l_linger != 5)
		fail("SO_LINGER lost");
	char cc[16] = {0};
	ll = sizeof cc;
	if (getsockopt(l4, IPPROTO_TCP, TCP_CONGESTION, cc, &ll) || strcmp(cc, "reno"))
		fail("congestion control %s, want reno", cc);
	char dev[IFNAMSIZ] = {0};
	ll = sizeof dev;
	if (getsockopt(l6, SOL_SOCKET, SO_BINDTODEVICE, dev, &ll) || strcmp(dev, "lo"))
		fail("bound device %s, want lo", dev);
	if (geti(l6, IPPROTO_IPV6, IPV6_V6ONLY) != 1 || geti(l6, SOL_SOCKET, SO_REUSEPORT) != 1)
		fail("v6 listener options lost");
	if (!(fcntl(l6, F_GETFL) & O_NONBLOCK) || (fcntl(l4, F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK lost or gained");
	if (geti(fresh, SOL_SOCKET, SO_TYPE) != SOCK_STREAM)
		fail("fresh socket is no stream socket");
	roundtrip(l4, AF_INET, p4);
	roundtrip(l6, AF_INET6, p6);
	return finish();
}
