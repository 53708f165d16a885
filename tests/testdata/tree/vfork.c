/* vfork: a parent that keeps vfork()ing children that stay 200 ms in the
 * vfork state (sharing its memory) before they exec /bin/true, for ~3 s.
 * A checkpoint that lands while a child has not exec'd must wait and retry
 * (the shared memory cannot be saved twice), then succeed.
 * stdout: "vfork: N children, all exited 0" and PASS. stderr: "vfork:
 * pid=N", "vfork: running", "vfork: end pid=N". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void) {
	fprintf(stderr, "vfork: pid=%d\n", (int)getpid());
	fprintf(stderr, "vfork: running\n");
	int n = 0, bad = 0;
	for (int i = 0; i < 12; i++) {
		pid_t c = vfork();
		if (c == 0) {
			struct timespec ts = {0, 200 * 1000 * 1000};
			nanosleep(&ts, 0); /* still sharing the parent's memory */
			execl("/bin/true", "true", (char *)0);
			_exit(127);
		}
		int st;
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
		n++;
		usleep(50000);
	}
	printf("vfork: %d children, %d failed\n", n, bad);
	fprintf(stderr, "vfork: end pid=%d\n", (int)getpid());
	printf(bad ? "FAIL\n" : "PASS\n");
	return bad != 0;
}
