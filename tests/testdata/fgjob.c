// fgjob: the main process runs a child as a job in the foreground of the
// terminal (its own process group, given the terminal, as a shell does).
// The child checks every 10 ms for 3 s that its group has the foreground
// (a read of the terminal would not stop it), then prints PASS or FAIL;
// the main process takes the terminal back and prints the job's status.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGTTOU, SIG_IGN);
	pid_t job = fork();
	if (job == 0) {
		setpgid(0, 0);
		for (int i = 0; tcgetpgrp(0) != getpgrp(); i++) {
			if (i > 200) {
				printf("FAIL: never got the foreground\n");
				return 1;
			}
			sleep_ms(10);
		}
		printf("READY\n");
		int bad = 0;
		for (int i = 0; i < 300; i++) {
			if (tcgetpgrp(0) != getpgrp())
				bad++;
			sleep_ms(10);
		}
		if (bad)
			printf("FAIL: the job lost the foreground %d times in 300\n", bad);
		else
			printf("PASS\n");
		return bad != 0;
	}
	setpgid(job, job);
	if (tcsetpgrp(0, job) != 0) {
		perror("tcsetpgrp");
		return 1;
	}
	int st;
	waitpid(job, &st, 0);
	tcsetpgrp(0, getpgrp());
	printf("job-exit=%d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
