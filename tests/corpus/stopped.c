// corpus: stopped children (SIGSTOP, stop already reported to the parent; SIGTSTP, not yet reported)
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

static pid_t child(void) {
	pid_t c = fork();
	if (c == 0) {
		for (;;) pause();
	}
	return c;
}

static void wait_state(pid_t p, char want) {
	for (int i = 0; i < 500 && state(p) != want; i++) sleep_ms(2);
	if (state(p) != want) bail("a child did not reach the expected state");
}

int main(void) {
	pid_t a = child(), b = child();
	int st;
	kill(a, SIGSTOP);
	if (waitpid(a, &st, WUNTRACED) != a || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) bail("wait for a's stop");
	kill(b, SIGTSTP);
	wait_state(b, 'T');
	running("stopped");
	for (int i = 0; i < 150; i++) {
		sleep_ms(10);
		char sa = state(a), sb = state(b);
		if (sa != 'T' || sb != 'T') {
			printf("FAIL: a child is not stopped: states %c %c\n", sa, sb);
			kill(a, SIGKILL);
			kill(b, SIGKILL);
			return 1;
		}
	}
	/* a's stop was reported: not again; b's was not: now, with SIGTSTP */
	if (waitpid(a, &st, WUNTRACED | WNOHANG) != 0) bail("a's stop reported twice");
	pid_t w = waitpid(b, &st, WUNTRACED | WNOHANG);
	if (w != b || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGTSTP) {
		printf("FAIL: b's stop: waitpid %d status %#x, want a stop by SIGTSTP\n", w, st);
		return 1;
	}
	if (waitpid(b, &st, WUNTRACED | WNOHANG) != 0) bail("b's stop reported twice");
	/* they go on when continued */
	kill(a, SIGCONT);
	kill(b, SIGCONT);
	if (waitpid(a, &st, WCONTINUED) != a || !WIFCONTINUED(st)) bail("a not continued");
	if (waitpid(b, &st, WCONTINUED) != b || !WIFCONTINUED(st)) bail("b not continued");
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	waitpid(a, &st, 0);
	waitpid(b, &st, 0);
	printf("PASS\n");
	return 0;
}
