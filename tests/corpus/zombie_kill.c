// corpus: a zombie child killed by SIGKILL, not reaped yet
// expect: exact
#include "corpus.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* bail prints FAIL and exits at once (set-up errors, first wrong value). */
static void bail(const char *why) { printf("FAIL: %s\n", why); fflush(stdout); exit(1); }

static char state(pid_t p) {
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", p);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof buf, f)) return '?';
	fclose(f);
	char *s = strrchr(buf, ')');
	return s ? s[2] : '?';
}

int main(void) {
	pid_t c = fork();
	if (c == 0) {
		for (;;) pause();
	}
	kill(c, SIGKILL);
	for (int i = 0; i < 500 && state(c) != 'Z'; i++) sleep_ms(2);
	if (state(c) != 'Z') bail("the child is not a zombie");
	running("zombie_kill");
	for (int i = 0; i < 150; i++) sleep_ms(10);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, c, &si, WEXITED | WNOWAIT) || si.si_code != CLD_KILLED || si.si_status != SIGKILL) {
		printf("FAIL: waitid: code %d status %d, want CLD_KILLED by SIGKILL\n", si.si_code, si.si_status);
		return 1;
	}
	int st;
	if (waitpid(c, &st, 0) != c || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL || WCOREDUMP(st)) {
		printf("FAIL: status %#x, want killed by SIGKILL\n", st);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
