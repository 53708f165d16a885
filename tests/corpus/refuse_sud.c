// corpus: syscall user dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH): crrun refuses (before: a restored thread ran without it)
// expect: refuse syscall user dispatch
// needs: root
#include "corpus.h"
#include <sys/prctl.h>
#include <signal.h>
#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#endif
static volatile char sel = 0; /* SYSCALL_DISPATCH_FILTER_ALLOW */
static volatile int sigsys;
static void h(int s) { (void)s; sigsys++; sel = 0; }
int main(void) {
	signal(SIGSYS, h);
	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0, 0, &sel)) die("SUD");
	running("refuse_sud"); work(NULL);
	sel = 1; /* BLOCK: the next syscall traps */
	getppid();
	if (!sigsys) fail("syscall user dispatch is off after the restore");
	return finish();
}
