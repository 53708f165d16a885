// corpus: capabilities kept across a uid change: effective, permitted, inheritable, ambient sets and securebits
// expect: exact
// needs: root
#include "corpus.h"
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }

#define BIT(c) (1u << (c))
static const unsigned KEEP = BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_NICE) | BIT(CAP_SETPCAP);

int main(void) {
	if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS | SECBIT_NO_SETUID_FIXUP)) bail("PR_SET_SECUREBITS");
	if (setresuid(1000, 1000, 1000)) bail("setresuid");
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{0}};
	d[0].effective = d[0].permitted = KEEP;
	d[0].inheritable = BIT(CAP_NET_BIND_SERVICE);
	if (syscall(SYS_capset, &h, d)) bail("capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0)) bail("ambient raise");
	running("caps");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	struct __user_cap_data_struct g[2] = {{0}};
	if (syscall(SYS_capget, &h, g)) bail("capget");
	if (g[0].effective != KEEP || g[0].permitted != KEEP || g[0].inheritable != BIT(CAP_NET_BIND_SERVICE) ||
	    g[1].effective || g[1].permitted || g[1].inheritable) {
		printf("FAIL: capabilities eff %#x prm %#x inh %#x\n", g[0].effective, g[0].permitted, g[0].inheritable);
		return 1;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0) != 1 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_NICE, 0, 0) != 0)
		bail("ambient set");
	int sb = prctl(PR_GET_SECUREBITS);
	if (sb != (SECBIT_KEEP_CAPS | SECBIT_NO_SETUID_FIXUP)) { printf("FAIL: securebits %#x\n", sb); return 1; }
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) bail("no_new_privs"); /* crrun's filter needs it */
	uid_t r, e, s;
	if (getresuid(&r, &e, &s) || r != 1000 || e != 1000 || s != 1000) bail("uids");
	printf("PASS\n");
	return 0;
}
