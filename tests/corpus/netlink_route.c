// corpus: NETLINK_ROUTE sockets (as getaddrinfo, if_nameindex and Go's net package open them): bound by the app, autobound, unbound; multicast groups (also above 32); options; link dumps mid-loop
// expect: exact
// flags: --net=private
#include "corpus.h"
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

static int nl(int type) {
	int s = socket(AF_NETLINK, type | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		die("socket(AF_NETLINK)");
	return s;
}

static unsigned port_of(int s, unsigned *groups) {
	struct sockaddr_nl a;
	socklen_t l = sizeof a;
	if (getsockname(s, (struct sockaddr *)&a, &l))
		die("getsockname");
	if (groups)
		*groups = a.nl_groups;
	return a.nl_pid;
}

static void memberships(int s, unsigned m[4]) {
	memset(m, 0, 4 * sizeof m[0]);
	socklen_t l = 4 * sizeof m[0];
	if (getsockopt(s, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, m, &l))
		die("NETLINK_LIST_MEMBERSHIPS");
}

static unsigned seq;

/* links dumps the links (RTM_GETLINK) and returns how many there are, -1
 * on error. */
static int links(int s) {
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = {{sizeof req, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, ++seq, 0}, {.ifi_family = AF_UNSPEC}};
	struct sockaddr_nl k = {.nl_family = AF_NETLINK};
	if (sendto(s, &req, sizeof req, 0, (struct sockaddr *)&k, sizeof k) != sizeof req)
		return -1;
	static char buf[32768];
	int n = 0;
	for (;;) {
		ssize_t r = recv(s, buf, sizeof buf, 0);
		if (r < 0)
			return -1;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, r); h = NLMSG_NEXT(h, r)) {
			if (h->nlmsg_seq != seq)
				continue; /* an event of a group */
			if (h->nlmsg_type == NLMSG_DONE)
				return n;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -1;
			if (h->nlmsg_type == RTM_NEWLINK)
				n++;
		}
	}
}

static int q, nlinks;

static void step(int i) {
	(void)i;
	int n = links(q);
	if (n != nlinks)
		fail("step %d: %d links, want %d", i, n, nlinks);
}

int main(void) {
	/* bound by the app, to groups, with an explicit port id too */
	int g = nl(SOCK_RAW);
	struct sockaddr_nl a = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR};
	if (bind(g, (struct sockaddr *)&a, sizeof a))
		die("bind groups");
	int grp = RTNLGRP_BRVLAN; /* 33: the second word of groups */
	if (setsockopt(g, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof grp))
		die("NETLINK_ADD_MEMBERSHIP");
	int one = 1, rcv = 200000;
	setsockopt(g, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
	setsockopt(g, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
	setsockopt(g, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	int e = nl(SOCK_RAW);
	struct sockaddr_nl ea = {.nl_family = AF_NETLINK, .nl_pid = 0x7e57};
	if (bind(e, (struct sockaddr *)&ea, sizeof ea))
		die("bind port id");
	/* autobound by its first send (a negative port id: g has the pid) */
	q = nl(SOCK_DGRAM);
	setsockopt(q, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
	if ((nlinks = links(q)) < 1)
		die("RTM_GETLINK");
	int u = nl(SOCK_RAW); /* never bound */

	unsigned gg, pg = port_of(g, &gg), pe = port_of(e, NULL), pq = port_of(q, NULL);
	unsigned mg[4], mq[4];
	memberships(g, mg);
	memberships(q, mq);
	int rcvbuf;
	socklen_t l = sizeof rcvbuf;
	getsockopt(g, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &l);
	if (pg != (unsigned)getpid() || pe != 0x7e57 || pq == 0 || port_of(u, NULL) != 0)
		fail("before: port ids %d %d %d %d", (int)pg, (int)pe, (int)pq, (int)port_of(u, NULL));
	if (mg[0] != (RTMGRP_LINK | RTMGRP_IPV4_IFADDR) || mg[1] != 1u << (RTNLGRP_BRVLAN - 33) || gg != mg[0] || mq[0] || mq[1])
		fail("before: groups %x %x (%x)", mg[0], mg[1], gg);

	running("netlink_route");
	work(step);

	unsigned gg2, m2[4];
	if (port_of(g, &gg2) != pg || port_of(e, NULL) != pe || port_of(q, NULL) != pq || port_of(u, NULL) != 0)
		fail("port ids %d %d %d %d, want %d %d %d 0", (int)port_of(g, NULL), (int)port_of(e, NULL), (int)port_of(q, NULL),
		     (int)port_of(u, NULL), (int)pg, (int)pe, (int)pq);
	memberships(g, m2);
	if (memcmp(m2, mg, sizeof mg) || gg2 != gg)
		fail("groups %x %x, want %x %x", m2[0], m2[1], mg[0], mg[1]);
	memberships(q, m2);
	if (memcmp(m2, mq, sizeof mq))
		fail("the query socket joined groups %x %x", m2[0], m2[1]);
	int v = 0, rb = 0;
	l = sizeof v;
	getsockopt(g, SOL_NETLINK, NETLINK_EXT_ACK, &v, &l);
	if (!v)
		fail("NETLINK_EXT_ACK lost");
	v = 0;
	getsockopt(g, SOL_NETLINK, NETLINK_NO_ENOBUFS, &v, &l);
	if (!v)
		fail("NETLINK_NO_ENOBUFS lost");
	v = 0;
	getsockopt(q, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &v, &l);
	if (!v)
		fail("NETLINK_GET_STRICT_CHK lost");
	getsockopt(g, SOL_SOCKET, SO_RCVBUF, &rb, &l);
	if (rb != rcvbuf)
		fail("SO_RCVBUF %d, want %d", rb, rcvbuf);
	int type = 0;
	getsockopt(q, SOL_SOCKET, SO_TYPE, &type, &l);
	if (type != SOCK_DGRAM)
		fail("the query socket is of type %d", type);
	/* fresh queries on every socket; the unbound one is autobound now */
	if (links(g) != nlinks || links(e) != nlinks || links(u) != nlinks || links(q) != nlinks)
		fail("a fresh query found another number of links");
	if (port_of(u, NULL) == 0)
		fail("the unbound socket was not autobound by its send");
	return finish();
}
