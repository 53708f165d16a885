// corpus: prctl(PR_SET_MDWE): the checkpoint cannot map its executable scratch memory there, so crrun refuses naming the call (before: a checkpoint error)
// expect: refuse PR_SET_MDWE
// needs: root
#include "corpus.h"
#include <sys/prctl.h>
#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif
int main(void) {
	if (prctl(PR_SET_MDWE, 1, 0, 0, 0)) die("PR_SET_MDWE");
	running("refuse_mdwe"); work(NULL);
	int got = prctl(PR_GET_MDWE, 0, 0, 0, 0);
	if (got != 1) fail("MDWE %d, want 1", got);
	return finish();
}
