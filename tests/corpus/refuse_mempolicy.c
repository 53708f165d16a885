// corpus: NUMA memory policies (set_mempolicy MPOL_INTERLEAVE, mbind MPOL_BIND): a restore would run with the default, so crrun refuses naming the call (before: silently lost)
// expect: refuse a NUMA memory policy
// needs: root
// status: blind a policy the app set is read by get_mempolicy in the frozen process (status sees only one inherited from crrun)
#include "corpus.h"
#include <sys/mman.h>
#include <sys/syscall.h>
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
int main(void) {
	unsigned long mask = 1, got = 0; int mode = -1;
	if (syscall(SYS_set_mempolicy, MPOL_INTERLEAVE, &mask, 64)) die("set_mempolicy");
	char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (syscall(SYS_mbind, p, 1 << 20, MPOL_BIND, &mask, 64, 0)) die("mbind");
	running("refuse_mempolicy"); work(NULL);
	if (syscall(SYS_get_mempolicy, &mode, &got, 64, 0, 0) || mode != MPOL_INTERLEAVE) fail("thread policy %d, want interleave", mode);
	mode = -1;
	if (syscall(SYS_get_mempolicy, &mode, &got, 64, p, 2 /* MPOL_F_ADDR */) || mode != MPOL_BIND) fail("mapping policy %d, want bind", mode);
	return finish();
}
