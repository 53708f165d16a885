// corpus: packet sockets on lo (SOCK_DGRAM bound to a private ethertype with PACKET_AUXDATA and PACKET_IGNORE_OUTGOING; SOCK_RAW bound to another with PACKET_ORIGDEV, PACKET_VERSION, PACKET_RESERVE and a classic filter; an unbound sender): frames sent to itself mid-loop
// expect: exact
// needs: root
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

#define ETH_A 0x88b5 /* IEEE local experimental ethertypes */
#define ETH_B 0x88b6

static int tx, rxd, rxr, lo;
static unsigned n;

static void send_to(int i, unsigned short proto, const char *msg) {
	struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_protocol = htons(proto), .sll_ifindex = lo, .sll_halen = ETH_ALEN};
	if (sendto(tx, msg, strlen(msg), 0, (struct sockaddr *)&to, sizeof to) != (ssize_t)strlen(msg))
		fail("step %d: sendto: %s", i, strerror(errno));
}

/* recv_one waits for one frame on fd; raw: an Ethernet header first */
static void recv_one(int i, int fd, int raw, unsigned short proto, const char *msg) {
	char buf[256], cbuf[256];
	for (int tries = 0; tries < 1000; tries++) {
		struct sockaddr_ll from;
		struct iovec iov = {buf, sizeof buf};
		struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cbuf, .msg_controllen = sizeof cbuf};
		ssize_t r = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (r < 0) {
			sleep_ms(1);
			continue;
		}
		size_t off = raw ? ETH_HLEN : 0, l = strlen(msg);
		if ((size_t)r < off + l || memcmp(buf + off, msg, l) || ntohs(from.sll_protocol) != proto || from.sll_ifindex != lo)
			fail("step %d: frame of %zd bytes, protocol %#x on %d", i, r, ntohs(from.sll_protocol), from.sll_ifindex);
		if (raw && ntohs(*(unsigned short *)(buf + 12)) != proto)
			fail("step %d: Ethernet type %#x", i, ntohs(*(unsigned short *)(buf + 12)));
		int aux = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			aux |= c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA;
		if (aux != !raw)
			fail("step %d: PACKET_AUXDATA %d on %s", i, aux, raw ? "SOCK_RAW" : "SOCK_DGRAM");
		return;
	}
	fail("step %d: no frame of %#x", i, proto);
}

static void step(int i) {
	if (i % 10)
		return;
	char a[32], b[32];
	snprintf(a, sizeof a, "A frame %u", ++n);
	snprintf(b, sizeof b, "B frame %u", n);
	send_to(i, ETH_A, a);
	recv_one(i, rxd, 0, ETH_A, a);
	send_to(i, ETH_B, b);
	recv_one(i, rxr, 1, ETH_B, b);
}

static int getint(int fd, int opt) {
	int v = -1;
	socklen_t l = sizeof v;
	if (getsockopt(fd, SOL_PACKET, opt, &v, &l))
		return -2;
	return v;
}

static void bound(int fd, unsigned short proto, int ifindex, const char *what) {
	struct sockaddr_ll a;
	socklen_t l = sizeof a;
	if (getsockname(fd, (struct sockaddr *)&a, &l) || ntohs(a.sll_protocol) != proto || a.sll_ifindex != ifindex)
		fail("%s bound to %#x on %d, want %#x on %d", what, ntohs(a.sll_protocol), a.sll_ifindex, proto, ifindex);
}

int main(void) {
	lo = if_nametoindex("lo");
	tx = socket(AF_PACKET, SOCK_DGRAM, 0);
	rxd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_A));
	rxr = socket(AF_PACKET, SOCK_RAW, 0);
	if (!lo || tx < 0 || rxd < 0 || rxr < 0)
		die("socket(AF_PACKET)");
	struct sockaddr_ll b = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_A), .sll_ifindex = lo};
	if (bind(rxd, (struct sockaddr *)&b, sizeof b))
		die("bind A");
	b.sll_protocol = htons(ETH_B);
	if (bind(rxr, (struct sockaddr *)&b, sizeof b))
		die("bind B");
	int one = 1, v2 = TPACKET_V2, reserve = 32;
	if (setsockopt(rxd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) ||
	    setsockopt(rxd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) ||
	    setsockopt(rxr, SOL_PACKET, PACKET_ORIGDEV, &one, sizeof one) || setsockopt(rxr, SOL_PACKET, PACKET_VERSION, &v2, sizeof v2) ||
	    setsockopt(rxr, SOL_PACKET, PACKET_RESERVE, &reserve, sizeof reserve))
		die("setsockopt(SOL_PACKET)");
	/* accept frames whose Ethernet type is ETH_B, drop the rest */
	struct sock_filter code[] = {
	    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_B, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, 0xffff),
	    BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = {4, code};
	if (setsockopt(rxr, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog))
		die("SO_ATTACH_FILTER");
	step(0);

	running("packet_lo");
	work(step);

	bound(tx, 0, 0, "the sender");
	bound(rxd, ETH_A, lo, "SOCK_DGRAM");
	bound(rxr, ETH_B, lo, "SOCK_RAW");
	if (getint(rxd, PACKET_AUXDATA) != 1 || getint(rxd, PACKET_IGNORE_OUTGOING) != 1 || getint(rxr, PACKET_ORIGDEV) != 1 ||
	    getint(rxr, PACKET_VERSION) != TPACKET_V2 || getint(rxr, PACKET_RESERVE) != reserve || getint(rxr, PACKET_AUXDATA) != 0)
		fail("options: AUXDATA %d IGNORE_OUTGOING %d ORIGDEV %d VERSION %d RESERVE %d", getint(rxd, PACKET_AUXDATA),
		     getint(rxd, PACKET_IGNORE_OUTGOING), getint(rxr, PACKET_ORIGDEV), getint(rxr, PACKET_VERSION), getint(rxr, PACKET_RESERVE));
	int t = 0;
	socklen_t l = sizeof t;
	if (getsockopt(rxr, SOL_SOCKET, SO_TYPE, &t, &l) || t != SOCK_RAW)
		fail("type %d", t);
	struct sock_filter got[8];
	l = 8; /* SO_GET_FILTER's length is in instructions */
	if (getsockopt(rxr, SOL_SOCKET, SO_GET_FILTER, got, &l) || l != 4 || memcmp(got, code, sizeof code))
		fail("the filter is lost (%u instructions)", l);
	step(0);
	printf("frames %u\n", n);
	return finish();
}
