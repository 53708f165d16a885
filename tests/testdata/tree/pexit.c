/* pexit: the main thread calls pthread_exit while another thread runs on
 * for ~3 s and then prints PASS. A checkpoint meanwhile is refused with a
 * reason naming pthread_exit (the process's leader is a zombie: not a
 * zombie process, and nothing restore can rebuild yet).
 * stderr: "pexit: running". */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *run(void *a) {
	(void)a;
	for (int i = 0; i < 30; i++) usleep(100000);
	printf("PASS\n");
	fflush(stdout);
	return 0;
}

int main(void) {
	pthread_t t;
	pthread_create(&t, 0, run, 0);
	fprintf(stderr, "pexit: running\n");
	pthread_exit(0);
}
