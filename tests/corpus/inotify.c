// corpus: inotify watches (a directory and a file, by their descriptors) come back and report new events
// expect: exact
#include "corpus.h"
#include <sys/inotify.h>

int main(void) {
	char dir[] = "/tmp/corpus-inotify-XXXXXX";
	if (!mkdtemp(dir)) die("mkdtemp");
	char file[300];
	snprintf(file, sizeof file, "%s/watched", dir);
	int f = open(file, O_CREAT | O_WRONLY, 0644);
	if (f < 0) die("create");
	close(f);
	int in = inotify_init1(IN_NONBLOCK);
	int wd = inotify_add_watch(in, dir, IN_CREATE | IN_DELETE);
	int wf = inotify_add_watch(in, file, IN_MODIFY);
	if (in < 0 || wd < 0 || wf < 0) die("inotify");
	running("inotify");
	work(NULL);
	char sub[320];
	snprintf(sub, sizeof sub, "%s/new", dir);
	f = open(sub, O_CREAT | O_WRONLY, 0644);
	close(f);
	f = open(file, O_WRONLY);
	if (write(f, "x", 1) != 1) die("write");
	close(f);
	sleep_ms(20);
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n = read(in, buf, sizeof buf);
	int created = 0, modified = 0;
	for (char *p = buf; n > 0 && p < buf + n;) {
		struct inotify_event *e = (struct inotify_event *)p;
		if (e->wd == wd && (e->mask & IN_CREATE) && !strcmp(e->name, "new")) created = 1;
		if (e->wd == wf && (e->mask & IN_MODIFY)) modified = 1;
		p += sizeof *e + e->len;
	}
	if (!created) fail("no IN_CREATE for the new file on watch %d", wd);
	if (!modified) fail("no IN_MODIFY on watch %d", wf);
	unlink(sub);
	unlink(file);
	rmdir(dir);
	return finish();
}
