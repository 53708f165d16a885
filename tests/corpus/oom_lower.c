// corpus: oom_score_adj lowered below 0 (needs CAP_SYS_RESOURCE to set back)
// expect: exact
// needs: root
#include "corpus.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }

int main(void) {
	FILE *f = fopen("/proc/self/oom_score_adj", "w");
	int want = -432;
	if (!f) bail("open oom_score_adj");
	fprintf(f, "-432\n");
	if (fclose(f)) {
		if (errno != EACCES) bail("write oom_score_adj");
		/* no CAP_SYS_RESOURCE here (a container's bounding set) */
		fprintf(stderr, "oom_lower: no CAP_SYS_RESOURCE: checking only that 0 stays 0\n");
		want = 0;
	}
	running("oom_lower");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	f = fopen("/proc/self/oom_score_adj", "r");
	int adj = 0;
	if (!f || fscanf(f, "%d", &adj) != 1) bail("read oom_score_adj");
	if (adj != want) { printf("FAIL: oom_score_adj %d, want %d\n", adj, want); return 1; }
	printf("PASS\n");
	return 0;
}
