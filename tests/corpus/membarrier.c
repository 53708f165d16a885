// corpus: membarrier registrations (private expedited, its sync-core and rseq variants, global expedited)
// expect: exact
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }
static void sleep_ms(int ms) { struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&ts, NULL); }
static long mb(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

int main(void) {
	long q = mb(MEMBARRIER_CMD_QUERY);
	int want = MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
	if (q < 0 || !(q & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)) fail("membarrier not available");
	if (mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)) fail("register private expedited");
	if (mb(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)) fail("register global expedited");
	if (q & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) {
		if (mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)) fail("register sync core");
		want |= MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE;
	}
	fprintf(stderr, "membarrier: running\n");
	for (int i = 0; i < 150; i++) {
		sleep_ms(10);
		/* unregistered, these fail with EPERM */
		if (mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED)) fail("private expedited barrier");
	}
	long regs = mb(1 << 9 /* MEMBARRIER_CMD_GET_REGISTRATIONS */);
	if (regs != want) { printf("FAIL: registrations %#lx, want %#x\n", regs, want); return 1; }
	if ((want & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) && mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE))
		fail("sync core barrier");
	printf("PASS\n");
	return 0;
}
