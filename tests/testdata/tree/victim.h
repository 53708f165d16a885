/* victim.h: the helpers the tree victims share (each is a standalone
 * program; this header is all of them that is common). */
#ifndef CRRUN_VICTIM_H
#define CRRUN_VICTIM_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VICTIM_UNUSED __attribute__((unused))

/* mix is splitmix64's finalizer: deterministic data from a counter. */
static VICTIM_UNUSED uint64_t mix(uint64_t x) {
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* fail records a failure; the victim prints "FAIL: <failures>" at the end. */
static char failures[4096];
static VICTIM_UNUSED void fail(const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	size_t l = strlen(failures);
	if (l < sizeof failures - 3)
		snprintf(failures + l, sizeof failures - l, "%s%s", l ? "; " : "", buf);
}

/* die prints FAIL with errno and exits 1. */
static VICTIM_UNUSED void die(const char *what) {
	printf("FAIL: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* sleep_ms sleeps ms milliseconds, whatever signals come meanwhile. */
static VICTIM_UNUSED void sleep_ms(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* write_all writes all n bytes (a short write, e.g. when the process is
 * stopped while blocked for room, is continued); 0, or -1 on error. */
static VICTIM_UNUSED int write_all(int fd, const void *p, size_t n) {
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

#endif
