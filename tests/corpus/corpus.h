/* corpus.h: what the corpus programs share. Each program in tests/corpus sets
 * up one kind of kernel state, prints "<name>: running" on stderr, works with
 * that state for about 1.5 s in small steps (a checkpoint lands somewhere in
 * there), then checks every piece of the state through the kernel's own view
 * and prints "PASS" or "FAIL: <what>" as its last stdout line (TestCorpus,
 * tests/corpus_test.go). Stdout is the same bytes with or without a
 * checkpoint and restore in the middle. */
#ifndef CRRUN_CORPUS_H
#define CRRUN_CORPUS_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CORPUS_UNUSED __attribute__((unused))

static char corpus_failures[4096];
static const char *corpus_name = "corpus";

/* fail records a failure; finish() prints them. */
static CORPUS_UNUSED void fail(const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	size_t l = strlen(corpus_failures);
	if (l < sizeof corpus_failures - 3)
		snprintf(corpus_failures + l, sizeof corpus_failures - l, "%s%s", l ? "; " : "", buf);
}

/* die prints FAIL with errno and exits 1 (set-up errors). */
static CORPUS_UNUSED void die(const char *what) {
	printf("FAIL: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

/* sleep_ms sleeps ms milliseconds, whatever signals come meanwhile. */
static CORPUS_UNUSED void sleep_ms(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* running says the state is set up: the checkpoint may land from now on.
 * name is the program's name (stderr prefix); call it once. */
static CORPUS_UNUSED void running(const char *name) {
	corpus_name = name;
	setvbuf(stdout, NULL, _IONBF, 0);
	fprintf(stderr, "%s: pid=%d\n%s: running\n", name, (int)getpid(), name);
}

/* work sleeps ~1.5 s in steps of 10 ms, calling step(i) (may be NULL)
 * before each: the window the checkpoint lands in. */
static CORPUS_UNUSED void work(void (*step)(int)) {
	for (int i = 0; i < 150; i++) {
		if (step)
			step(i);
		sleep_ms(10);
	}
}

/* finish prints PASS or FAIL and returns the exit status for main. */
static CORPUS_UNUSED int finish(void) {
	fprintf(stderr, "%s: end pid=%d\n", corpus_name, (int)getpid());
	if (corpus_failures[0]) {
		printf("FAIL: %s\n", corpus_failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}

/* status_field copies the value of "Key:" of /proc/self/status (or of
 * another /proc file in the same format) into out; 0 on success. */
static CORPUS_UNUSED int status_field(const char *path, const char *key, char *out, size_t n) {
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[1024];
	size_t kl = strlen(key);
	int rc = -1;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			char *v = line + kl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			v[strcspn(v, "\n")] = 0;
			snprintf(out, n, "%s", v);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

#endif
