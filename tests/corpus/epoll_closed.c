// corpus: epoll interest entries registered through fd numbers since closed or reused by another file
// expect: exact
#include "corpus.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

/* An eventfd added to an epoll as fd 20, then moved to fd 21 (fd 20 is
 * closed: the entry stays, named "tfd: 20" by fdinfo); a pipe's read end
 * added as fd 22, moved to 23, and fd 22 reused by /dev/zero. After ~1.5 s
 * the epoll's fdinfo still shows tfd 20 and 22 with their inodes, and each
 * file's events still come with its own data. */

static int tfd_ino(int ep, int tfd, unsigned long *ino) {
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", ep);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		int t;
		unsigned long i;
		if (sscanf(line, "tfd: %d events: %*x data: %*x pos:%*d ino:%lx", &t, &i) == 2) {
			n++;
			if (t == tfd)
				*ino = i;
		}
	}
	fclose(f);
	return n;
}

int main(void) {
	int ep = epoll_create1(0);
	int e = eventfd(0, EFD_NONBLOCK);
	int p[2];
	if (ep < 0 || e < 0 || pipe2(p, O_NONBLOCK) != 0)
		die("set up");
	if (dup2(e, 20) != 20 || dup2(p[0], 22) != 22)
		die("dup2");
	close(e);
	close(p[0]);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xe0e0};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, 20, &ev) != 0)
		die("epoll_ctl(20)");
	ev.data.u64 = 0xb1be;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, 22, &ev) != 0)
		die("epoll_ctl(22)");
	if (dup2(20, 21) != 21 || dup2(22, 23) != 23)
		die("dup2");
	close(20);
	close(22);
	int z = open("/dev/zero", O_RDONLY); /* 22 is reused, 20 stays free */
	if (z < 0 || dup2(z, 22) != 22)
		die("reuse fd 22");
	close(z);
	running("epoll_closed");
	work(NULL);
	struct stat se, sp; /* now: a restored pipe is another inode */
	if (fstat(21, &se) || fstat(23, &sp))
		die("fstat");
	unsigned long i20 = 0, i22 = 0;
	int n = tfd_ino(ep, 20, &i20);
	tfd_ino(ep, 22, &i22);
	if (n != 2 || i20 != se.st_ino || i22 != sp.st_ino)
		fail("epoll fdinfo: %d entries, tfd 20 ino %lu (want %lu), tfd 22 ino %lu (want %lu)", n, i20,
		     (unsigned long)se.st_ino, i22, (unsigned long)sp.st_ino);
	struct epoll_event out[4];
	if (epoll_wait(ep, out, 4, 0) != 0)
		fail("events before any write");
	uint64_t one = 1;
	if (write(21, &one, 8) != 8)
		die("write eventfd");
	if (epoll_wait(ep, out, 4, 100) != 1 || out[0].data.u64 != 0xe0e0)
		fail("no eventfd event with its data");
	eventfd_t v;
	eventfd_read(21, &v);
	if (write(p[1], "x", 1) != 1)
		die("write pipe");
	if (epoll_wait(ep, out, 4, 100) != 1 || out[0].data.u64 != 0xb1be)
		fail("no pipe event with its data");
	struct stat s22;
	if (fstat(22, &s22) || !S_ISCHR(s22.st_mode))
		fail("fd 22 is no longer /dev/zero");
	return finish();
}
