// corpus: a directory fd with a dnotify registration (fcntl F_NOTIFY, DN_MULTISHOT): nothing shows it, so crrun refuses (before: restored without it, the app's signals silently gone)
// expect: refuse directory notifications (fcntl F_NOTIFY
// needs: root
#include "corpus.h"
#include <signal.h>
static volatile sig_atomic_t got;
static void h(int s, siginfo_t *si, void *u) { (void)s; (void)si; (void)u; got++; }
int main(void) {
	char dir[] = "/tmp/probe-dn-XXXXXX"; if (!mkdtemp(dir)) die("mkdtemp");
	struct sigaction sa = {.sa_sigaction = h, .sa_flags = SA_SIGINFO}; sigaction(SIGRTMIN, &sa, NULL);
	int d = open(dir, O_RDONLY | O_DIRECTORY);
	if (fcntl(d, F_SETSIG, SIGRTMIN) || fcntl(d, F_NOTIFY, DN_CREATE | DN_MULTISHOT)) die("F_NOTIFY");
	running("refuse_dnotify"); work(NULL);
	char f[128]; snprintf(f, sizeof f, "%s/x", dir); close(open(f, O_CREAT | O_WRONLY, 0600));
	sleep_ms(100);
	if (!got) fail("no dnotify signal after creating a file");
	unlink(f); rmdir(dir); return finish();
}
