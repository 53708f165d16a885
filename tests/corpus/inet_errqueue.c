// corpus: a UDP socket with IP_RECVERR whose error queue holds an ICMP error not read yet, which crrun refuses
// expect: refuse an error is pending (SO_ERROR) or queued (the IP_RECVERR error queue)
// flags: --net=private
#include "corpus.h"
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

int main(void) {
	int t = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof a) || getsockname(t, (struct sockaddr *)&a, &al))
		die("bind");
	close(t);
	int u = socket(AF_INET, SOCK_DGRAM, 0), on = 1;
	if (u < 0 || setsockopt(u, IPPROTO_IP, IP_RECVERR, &on, sizeof on))
		die("IP_RECVERR");
	if (sendto(u, "x", 1, 0, (struct sockaddr *)&a, sizeof a) != 1)
		die("sendto");
	struct pollfd p = {.fd = u, .events = 0};
	if (poll(&p, 1, 2000) != 1 || !(p.revents & POLLERR))
		die("no error queued");
	running("inet_errqueue");
	work(NULL);
	char buf[64], ctl[256];
	struct iovec iov = {buf, sizeof buf};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
	if (recvmsg(u, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
		fail("the error queue is empty: %s", strerror(errno));
		return finish();
	}
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_level != IPPROTO_IP || cm->cmsg_type != IP_RECVERR)
		fail("no IP_RECVERR message");
	else if (((struct sock_extended_err *)CMSG_DATA(cm))->ee_errno != ECONNREFUSED)
		fail("queued error %d, want ECONNREFUSED", ((struct sock_extended_err *)CMSG_DATA(cm))->ee_errno);
	return finish();
}
