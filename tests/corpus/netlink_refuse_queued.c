// corpus: a NETLINK_ROUTE socket holding the kernel's reply, not read across the checkpoint (it cannot be queued again)
// expect: refuse has messages queued and not read yet
// needs: root
// flags: --net=private
#include "corpus.h"
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

int main(void) {
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		die("socket(AF_NETLINK)");
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = {{sizeof req, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0}, {.ifi_family = AF_UNSPEC}};
	if (send(s, &req, sizeof req, 0) != sizeof req)
		die("send");
	running("netlink_refuse_queued");
	work(NULL); /* twice: the checkpoint waits a second for the queue to empty */
	work(NULL);
	/* the reply is still there, whole */
	char buf[32768];
	int done = 0, links = 0;
	while (!done) {
		ssize_t r = recv(s, buf, sizeof buf, MSG_DONTWAIT);
		if (r < 0) {
			fail("the reply is gone: %s", strerror(errno));
			break;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, r); h = NLMSG_NEXT(h, r)) {
			if (h->nlmsg_type == NLMSG_DONE)
				done = 1;
			else if (h->nlmsg_type == RTM_NEWLINK && h->nlmsg_seq == 1)
				links++;
		}
	}
	if (links < 1)
		fail("no link in the reply");
	return finish();
}
