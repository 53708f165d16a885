// corpus: an fd whose SIGIO owner (F_SETOWN) is a process outside the app
// expect: refuse is no running process of the app
#include "corpus.h"

/* A pipe's signals go to pid 1 (crrun's init, not part of the app): a
 * restore could not name that owner again, so the checkpoint refuses; the
 * app runs on and finds its owner unchanged. */

int main(void) {
	int p[2];
	if (pipe(p) != 0 || fcntl(p[0], F_SETOWN, 1) != 0)
		die("F_SETOWN");
	running("fasync_outside");
	work(NULL);
	if (fcntl(p[0], F_GETOWN) != 1)
		fail("F_GETOWN is %d, want 1", fcntl(p[0], F_GETOWN));
	return finish();
}
