// corpus: membarrier registrations (private expedited, its sync-core and rseq variants, global expedited)
// expect: exact
#include "corpus.h"
#include <linux/membarrier.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }
static long mb(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

int main(void) {
	long q = mb(MEMBARRIER_CMD_QUERY);
	int want = MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
	if (q < 0 || !(q & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)) bail("membarrier not available");
	if (mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)) bail("register private expedited");
	if (mb(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)) bail("register global expedited");
	if (q & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) {
		if (mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)) bail("register sync core");
		want |= MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE;
	}
	running("membarrier");
	for (int i = 0; i < 150; i++) {
		sleep_ms(10);
		/* unregistered, these fail with EPERM */
		if (mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED)) bail("private expedited barrier");
	}
	long regs = mb(1 << 9 /* MEMBARRIER_CMD_GET_REGISTRATIONS */);
	if (regs != want) { printf("FAIL: registrations %#lx, want %#x\n", regs, want); return 1; }
	if ((want & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) && mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE))
		bail("sync core barrier");
	printf("PASS\n");
	return 0;
}
