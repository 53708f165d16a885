// corpus: process attributes: oom_score_adj (raised), THP disabled, not dumpable, timer slack
// expect: exact
#include "corpus.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }

static int status_int(const char *name) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256]; int v = -1; size_t n = strlen(name);
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, name, n) && line[n] == ':') v = atoi(line + n + 1);
	if (f) fclose(f);
	return v;
}

int main(void) {
	FILE *f = fopen("/proc/self/oom_score_adj", "w");
	if (!f || fprintf(f, "617\n") < 0 || fclose(f)) bail("write oom_score_adj");
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)) bail("PR_SET_THP_DISABLE");
	if (prctl(PR_SET_DUMPABLE, 0)) bail("PR_SET_DUMPABLE");
	running("prctl_attrs");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	/* not dumpable: /proc/self files are root's now, but a process may read its own */
	f = fopen("/proc/self/oom_score_adj", "r");
	int adj = -9999;
	if (!f || fscanf(f, "%d", &adj) != 1) bail("read oom_score_adj");
	fclose(f);
	if (adj != 617) { printf("FAIL: oom_score_adj %d, want 617\n", adj); return 1; }
	if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) != 1) bail("PR_GET_THP_DISABLE is not 1");
	if (status_int("THP_enabled") != 0) bail("THP_enabled is not 0");
	if (prctl(PR_GET_DUMPABLE) != 0) bail("dumpable is not 0");
	printf("PASS\n");
	return 0;
}
