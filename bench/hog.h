// bench/hog.h — what the benchmark's victims (memhog, threadhog, treehog)
// share: progress lines written whole, a monotonic clock, a PRNG.
#ifndef CRRUN_HOG_H
#define CRRUN_HOG_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

// say writes one line to stdout with one write(2) (lines of several threads
// or processes never interleave), up to 1 KiB.
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void say(const char *fmt, ...) {
	char b[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if ((size_t)n >= sizeof b) n = sizeof b - 1;
	for (int off = 0; off < n;) {
		ssize_t w = write(1, b + off, n - off);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) return;
		off += w;
	}
}

static __attribute__((unused)) double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static __attribute__((unused)) uint64_t next(uint64_t *s) { // xorshift64*
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

#endif
