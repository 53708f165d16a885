// corpus: a netlink socket of another protocol than NETLINK_ROUTE (uevents), which crrun does not save
// expect: refuse socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT) not supported yet
// needs: root
#include "corpus.h"
#include <linux/netlink.h>
#include <sys/socket.h>

int main(void) {
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (s < 0)
		die("socket(NETLINK_KOBJECT_UEVENT)");
	running("netlink_refuse_uevent");
	work(NULL);
	int p = -1;
	socklen_t l = sizeof p;
	if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &p, &l) || p != NETLINK_KOBJECT_UEVENT)
		fail("fd %d is not a uevent socket any more", s);
	return finish();
}
