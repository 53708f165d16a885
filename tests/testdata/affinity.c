// affinity: a victim whose main thread keeps the CPU affinity its
// environment gave it and whose second thread sets its own (CPUS, a list
// like "0-1"). It prints "affinity: ready" once both are set, then waits
// for DIR/expect (written by the test after a restore): two lines, the CPU
// lists the main and the second thread must have now. It compares them
// with sched_getaffinity and prints PASS or FAIL: <why>.
//
//	affinity DIR CPUS
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void parse(const char *s, cpu_set_t *set) {
	CPU_ZERO(set);
	while (*s && *s != '\n') {
		char *e;
		long a = strtol(s, &e, 10), b = a;
		if (*e == '-') b = strtol(e + 1, &e, 10);
		for (long c = a; c <= b; c++) CPU_SET(c, set);
		s = *e == ',' ? e + 1 : e;
	}
}

static void list(const cpu_set_t *set, char *out) {
	out[0] = 0;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, set)) continue;
		int e = c;
		while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set)) e++;
		sprintf(out + strlen(out), "%s%d", out[0] ? "," : "", c);
		if (e > c) sprintf(out + strlen(out), "-%d", e);
		c = e;
	}
}

static cpu_set_t want2;
static volatile int set2;

static void *second(void *arg) {
	(void)arg;
	if (sched_setaffinity(0, sizeof want2, &want2)) { perror("sched_setaffinity"); exit(2); }
	set2 = 1;
	for (;;) pause();
}

int main(int argc, char **argv) {
	if (argc != 3) { fprintf(stderr, "usage: affinity DIR CPUS\n"); return 2; }
	parse(argv[2], &want2);
	pthread_t t;
	pthread_create(&t, NULL, second, NULL);
	while (!set2) usleep(1000);
	char path[4096];
	snprintf(path, sizeof path, "%s/expect", argv[1]);
	fprintf(stderr, "affinity: ready\n");
	FILE *f;
	while (!(f = fopen(path, "r"))) usleep(20000);
	char l1[256] = "", l2[256] = "";
	if (!fgets(l1, sizeof l1, f) || !fgets(l2, sizeof l2, f)) { printf("FAIL: %s: two lines wanted\n", path); return 1; }
	fclose(f);
	cpu_set_t e1, e2, g1, g2;
	parse(l1, &e1);
	parse(l2, &e2);
	sched_getaffinity(0, sizeof g1, &g1);
	pthread_getaffinity_np(t, sizeof g2, &g2);
	char s1[256], s2[256], w1[256], w2[256];
	list(&g1, s1), list(&g2, s2), list(&e1, w1), list(&e2, w2);
	if (!CPU_EQUAL(&g1, &e1) || !CPU_EQUAL(&g2, &e2)) {
		printf("FAIL: main thread %s (want %s), second thread %s (want %s)\n", s1, w1, s2, w2);
		return 1;
	}
	printf("main thread %s, second thread %s\nPASS\n", s1, s2);
	return 0;
}
