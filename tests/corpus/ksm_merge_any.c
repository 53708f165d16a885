// corpus: KSM for the whole process (prctl PR_SET_MEMORY_MERGE)
// expect: refuse PR_SET_MEMORY_MERGE
// needs: root
#include "corpus.h"
#include <sys/prctl.h>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

int main(void) {
	if (prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0))
		die("prctl(PR_SET_MEMORY_MERGE)");
	running("ksm_merge_any");
	work(NULL);
	if (prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) != 1)
		fail("PR_GET_MEMORY_MERGE is not 1");
	return finish();
}
