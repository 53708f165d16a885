// corpus: I/O priorities (ionice) per thread: the main thread best-effort level 5, a second thread idle; each comes back with its own (before: lost, every thread at the restorer's)
// expect: exact
#include "corpus.h"
#include <pthread.h>
#include <sys/syscall.h>

#define PRIO(class, data) ((class) << 13 | (data))

static int get(void) { return (int)syscall(SYS_ioprio_get, 1, 0); }

static void *idle(void *arg) {
	(void)arg;
	if (syscall(SYS_ioprio_set, 1, 0, PRIO(3, 0)))
		die("ioprio_set idle");
	work(NULL);
	if (get() != PRIO(3, 0))
		fail("thread: ioprio %#x, want %#x", get(), PRIO(3, 0));
	return NULL;
}

int main(void) {
	if (syscall(SYS_ioprio_set, 1, 0, PRIO(2, 5)))
		die("ioprio_set");
	pthread_t t;
	if (pthread_create(&t, NULL, idle, NULL))
		die("pthread_create");
	running("ioprio");
	work(NULL);
	pthread_join(t, NULL);
	if (get() != PRIO(2, 5))
		fail("main: ioprio %#x, want %#x", get(), PRIO(2, 5));
	return finish();
}
