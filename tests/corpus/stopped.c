// corpus: stopped children (SIGSTOP, stop already reported to the parent; SIGTSTP, not yet reported; a two-thread one)
// expect: exact
#include "corpus.h"
#include <dirent.h>
#include <pthread.h>
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

static void *idle(void *arg) {
	(void)arg;
	for (;;) pause();
	return NULL;
}

/* child forks a child that waits forever, with a second thread if threaded. */
static pid_t child(int threaded) {
	pid_t c = fork();
	if (c == 0) {
		pthread_t th;
		if (threaded) pthread_create(&th, NULL, idle, NULL);
		for (;;) pause();
	}
	return c;
}

/* all_stopped: every thread of p is in state T. */
static int all_stopped(pid_t p) {
	char path[320], buf[512];
	snprintf(path, sizeof path, "/proc/%d/task", p);
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0, ok = 1;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/stat", p, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f || !fgets(buf, sizeof buf, f)) ok = 0;
		else { char *s = strrchr(buf, ')'); if (!s || s[2] != 'T') ok = 0; }
		if (f) fclose(f);
		n++;
	}
	if (d) closedir(d);
	return ok && n > 0 ? n : 0;
}

static void wait_state(pid_t p, char want) {
	for (int i = 0; i < 500 && state(p) != want; i++) sleep_ms(2);
	if (state(p) != want) bail("a child did not reach the expected state");
}

int main(void) {
	pid_t a = child(0), b = child(0), c = child(1);
	int st;
	sleep_ms(50); /* c's second thread exists */
	kill(a, SIGSTOP);
	if (waitpid(a, &st, WUNTRACED) != a || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) bail("wait for a's stop");
	kill(b, SIGTSTP);
	wait_state(b, 'T');
	kill(c, SIGSTOP);
	wait_state(c, 'T');
	running("stopped");
	for (int i = 0; i < 150; i++) {
		sleep_ms(10);
		char sa = state(a), sb = state(b);
		if (sa != 'T' || sb != 'T' || all_stopped(c) != 2) {
			printf("FAIL: a child is not stopped: states %c %c, %d threads of c stopped\n", sa, sb, all_stopped(c));
			kill(a, SIGKILL);
			kill(b, SIGKILL);
			kill(c, SIGKILL);
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
	w = waitpid(c, &st, WUNTRACED | WNOHANG);
	if (w != c || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) bail("c's stop (two threads) not reported as SIGSTOP");
	kill(c, SIGKILL);
	waitpid(c, &st, 0);
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
