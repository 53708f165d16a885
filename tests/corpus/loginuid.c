// corpus: audit login uid (/proc/self/loginuid), set by the app as a login program would
// expect: exact
// needs: root
#include "corpus.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }

int main(void) {
	FILE *f = fopen("/proc/self/loginuid", "w");
	if (!f) { printf("PASS\n"); return 0; } /* no audit support: nothing to check */
	if (fprintf(f, "4321") < 0 || fclose(f)) bail("write loginuid (needs CAP_AUDIT_CONTROL)");
	running("loginuid");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	f = fopen("/proc/self/loginuid", "r");
	unsigned v = 0;
	if (!f || fscanf(f, "%u", &v) != 1) bail("read loginuid");
	if (v != 4321) { printf("FAIL: loginuid %u, want 4321\n", v); return 1; }
	printf("PASS\n");
	return 0;
}
