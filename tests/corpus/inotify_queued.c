// corpus: inotify events queued and not read at checkpoint time, which a restore cannot queue again
// expect: refuse bytes of events not read yet
#include "corpus.h"
#include <sys/inotify.h>

int main(void) {
	char dir[] = "/tmp/corpus-inotifyq-XXXXXX";
	if (!mkdtemp(dir)) die("mkdtemp");
	int in = inotify_init1(IN_NONBLOCK);
	int wd = inotify_add_watch(in, dir, IN_CREATE);
	if (in < 0 || wd < 0) die("inotify");
	char sub[300];
	snprintf(sub, sizeof sub, "%s/new", dir);
	int f = open(sub, O_CREAT | O_WRONLY, 0644);
	close(f);
	running("inotify_queued");
	work(NULL);
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n = read(in, buf, sizeof buf);
	struct inotify_event *e = (struct inotify_event *)buf;
	if (n <= 0 || e->wd != wd || !(e->mask & IN_CREATE)) fail("the queued IN_CREATE is gone");
	unlink(sub);
	rmdir(dir);
	return finish();
}
