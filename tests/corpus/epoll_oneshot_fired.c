// corpus: an EPOLLONESHOT entry that fired and is not re-armed: no epoll call adds an entry disarmed, so crrun refuses until the app re-arms it (before: accepted, and the restore refused by its verifier)
// expect: refuse is an EPOLLONESHOT one that has fired
#include "corpus.h"
#include <sys/epoll.h>
int main(void) {
	int p[2]; pipe(p); int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 7};
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	write(p[1], "x", 1);
	struct epoll_event out; if (epoll_wait(ep, &out, 1, 1000) != 1) die("first wait");
	/* fired: disarmed until EPOLL_CTL_MOD */
	running("epoll_oneshot_fired"); work(NULL);
	if (epoll_wait(ep, &out, 1, 100) != 0) fail("a disarmed oneshot entry fired again");
	ev.events = EPOLLIN | EPOLLONESHOT; epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
	if (epoll_wait(ep, &out, 1, 1000) != 1 || out.data.u64 != 7) fail("rearmed entry did not fire");
	return finish();
}
