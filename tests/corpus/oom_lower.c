// corpus: oom_score_adj lowered below 0 (needs CAP_SYS_RESOURCE to set back)
// expect: exact
// needs: root
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void fail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }
static void sleep_ms(int ms) { struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&ts, NULL); }

int main(void) {
	FILE *f = fopen("/proc/self/oom_score_adj", "w");
	int want = -432;
	if (!f) fail("open oom_score_adj");
	fprintf(f, "-432\n");
	if (fclose(f)) {
		if (errno != EACCES) fail("write oom_score_adj");
		/* no CAP_SYS_RESOURCE here (a container's bounding set) */
		fprintf(stderr, "oom_lower: no CAP_SYS_RESOURCE: checking only that 0 stays 0\n");
		want = 0;
	}
	fprintf(stderr, "oom_lower: running\n");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	f = fopen("/proc/self/oom_score_adj", "r");
	int adj = 0;
	if (!f || fscanf(f, "%d", &adj) != 1) fail("read oom_score_adj");
	if (adj != want) { printf("FAIL: oom_score_adj %d, want %d\n", adj, want); return 1; }
	printf("PASS\n");
	return 0;
}
