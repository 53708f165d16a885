// corpus: a thread's machine-check kill policy (prctl PR_MCE_KILL): crrun refuses naming the call (before: a restored thread had the default policy)
// expect: refuse PR_MCE_KILL
// needs: root
#include "corpus.h"
#include <sys/prctl.h>
int main(void) {
	if (prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0)) die("PR_MCE_KILL");
	running("refuse_prctl_mce"); work(NULL);
	if (prctl(PR_MCE_KILL_GET, 0, 0, 0, 0) != PR_MCE_KILL_EARLY) fail("PR_MCE_KILL_GET %d", prctl(PR_MCE_KILL_GET, 0, 0, 0, 0));
	return finish();
}
