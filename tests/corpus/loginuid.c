// corpus: audit login uid (/proc/self/loginuid), set by the app as a login program would
// expect: exact
// needs: root
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void fail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }
static void sleep_ms(int ms) { struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&ts, NULL); }

int main(void) {
	FILE *f = fopen("/proc/self/loginuid", "w");
	if (!f) { printf("PASS\n"); return 0; } /* no audit support: nothing to check */
	if (fprintf(f, "4321") < 0 || fclose(f)) fail("write loginuid (needs CAP_AUDIT_CONTROL)");
	fprintf(stderr, "loginuid: running\n");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	f = fopen("/proc/self/loginuid", "r");
	unsigned v = 0;
	if (!f || fscanf(f, "%u", &v) != 1) fail("read loginuid");
	if (v != 4321) { printf("FAIL: loginuid %u, want 4321\n", v); return 1; }
	printf("PASS\n");
	return 0;
}
