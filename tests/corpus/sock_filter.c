// corpus: classic socket filters (SO_ATTACH_FILTER, SO_LOCK_FILTER) on UDP and NETLINK_ROUTE sockets, a datagram the filter let through queued across the checkpoint
// expect: exact
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* UDP: accept a datagram whose first payload byte is 'A' (the filter sees
 * the UDP header first: 8 bytes) */
static struct sock_filter only_a[] = {
	BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 8),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 'A', 0, 1),
	BPF_STMT(BPF_RET | BPF_K, 0xffff),
	BPF_STMT(BPF_RET | BPF_K, 0),
};
static struct sock_filter all[] = {BPF_STMT(BPF_RET | BPF_K, 0xffffffff)};

static int rx, tx, port;

static void send_one(const char *m) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (sendto(tx, m, strlen(m), 0, (struct sockaddr *)&a, sizeof a) < 0)
		fail("sendto: %s", strerror(errno));
}

static void expect(const char *want) {
	char got[128] = {0}, buf[32];
	for (;;) {
		ssize_t n = recv(rx, buf, sizeof buf - 1, MSG_DONTWAIT);
		if (n < 0)
			break;
		buf[n] = 0;
		strcat(strcat(got, buf), " ");
	}
	if (strcmp(got, want))
		fail("got \"%s\", want \"%s\"", got, want);
}

static void check(int s, struct sock_filter *want, int n, const char *what) {
	struct sock_filter got[8];
	socklen_t l = 8; /* in instructions */
	if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, got, &l) || (int)l != n || memcmp(got, want, n * sizeof got[0]))
		fail("%s: the filter is not the one attached (%d instructions)", what, (int)l);
	int v = 0;
	l = sizeof v;
	if (getsockopt(s, SOL_SOCKET, SO_LOCK_FILTER, &v, &l) || !v)
		fail("%s: the filter is not locked", what);
}

int main(void) {
	rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t l = sizeof a;
	if (bind(rx, (struct sockaddr *)&a, sizeof a) || getsockname(rx, (struct sockaddr *)&a, &l))
		die("bind");
	port = ntohs(a.sin_port);
	struct sock_fprog p = {4, only_a}, pa = {1, all};
	int one = 1;
	if (setsockopt(rx, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof p) || setsockopt(rx, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof one))
		die("SO_ATTACH_FILTER");
	int nl = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (nl < 0 || setsockopt(nl, SOL_SOCKET, SO_ATTACH_FILTER, &pa, sizeof pa) || setsockopt(nl, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof one))
		die("netlink SO_ATTACH_FILTER");
	send_one("A-queued");
	send_one("B-dropped");
	running("sock_filter");
	work(NULL);
	check(rx, only_a, 4, "UDP");
	check(nl, all, 1, "netlink");
	if (setsockopt(rx, SOL_SOCKET, SO_DETACH_FILTER, &one, sizeof one) == 0 || errno != EPERM)
		fail("the locked filter could be detached");
	send_one("B-after");
	send_one("A-after");
	expect("A-queued A-after ");
	return finish();
}
