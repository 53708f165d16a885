// corpus: a classic socket filter on a unix socket, which crrun does not save with it
// expect: refuse a socket filter (SO_ATTACH_FILTER) or filter lock (SO_LOCK_FILTER) on a unix socket not supported yet
// needs: root
#include "corpus.h"
#include <linux/filter.h>
#include <sys/socket.h>

static struct sock_filter all[] = {BPF_STMT(BPF_RET | BPF_K, 0xffffffff)};

int main(void) {
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv))
		die("socketpair");
	struct sock_fprog p = {1, all};
	if (setsockopt(sv[1], SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof p))
		die("SO_ATTACH_FILTER");
	running("unix_refuse_filter");
	work(NULL);
	socklen_t l = 0;
	if (getsockopt(sv[1], SOL_SOCKET, SO_GET_FILTER, NULL, &l) || l != 1)
		fail("the filter is gone (%d instructions)", (int)l);
	return finish();
}
