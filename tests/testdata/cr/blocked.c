// blocked: a victim that is blocked in a system call when the checkpoint is
// taken.
//
//	blocked read EXPECTED       read(0) until EOF; the data must be EXPECTED
//	blocked sleep SECS          nanosleep(SECS), resumed with the remaining
//	                            time on EINTR (as correct programs do)
//	blocked abssleep SECS       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)
//	                            to start+SECS
//	blocked both SECS EXPECTED  a thread in nanosleep(SECS) while the main
//	                            thread reads stdin
//
// stdout (deterministic): what was read / slept, then exactly "PASS" or
// "FAIL: <what>". stderr: "blocked: pid=N", "blocked: reading" or "blocked:
// sleeping" just before blocking, EINTR counts and elapsed times, "blocked:
// end pid=N".
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double mono(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char failures[1024];
static void fail(const char *msg) {
	size_t l = strlen(failures);
	snprintf(failures + l, sizeof failures - l, "%s%s", l ? "; " : "", msg);
}

static int do_read(const char *expected) {
	static char buf[1 << 16];
	size_t len = 0;
	int eintr = 0;
	fprintf(stderr, "blocked: reading\n");
	for (;;) {
		ssize_t n = read(0, buf + len, sizeof buf - 1 - len);
		if (n < 0 && errno == EINTR) {
			eintr++;
			continue;
		}
		if (n < 0) {
			char m[128];
			snprintf(m, sizeof m, "read: %s", strerror(errno));
			fail(m);
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof buf - 1)
			break;
	}
	buf[len] = 0;
	fprintf(stderr, "blocked: read returned EINTR %d times\n", eintr);
	printf("read %zu bytes: ", len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n')
			printf("\\n");
		else
			putchar(buf[i]);
	printf("\n");
	if (strcmp(buf, expected) != 0)
		fail("stdin data differs from the expected text");
	return 0;
}

static void *do_sleep(void *arg) {
	double secs = *(double *)arg;
	struct timespec req = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
	int eintr = 0;
	double t0 = mono();
	fprintf(stderr, "blocked: sleeping\n");
	while (nanosleep(&req, &req) != 0) {
		if (errno != EINTR) {
			fail("nanosleep failed");
			return NULL;
		}
		eintr++;
		fprintf(stderr, "blocked: nanosleep EINTR, %ld.%09ld s left\n", (long)req.tv_sec, req.tv_nsec);
	}
	double el = mono() - t0;
	fprintf(stderr, "blocked: nanosleep done after %.3f s (EINTR %d times)\n", el, eintr);
	if (el < secs - 0.001)
		fail("nanosleep returned early");
	return NULL;
}

static void do_abssleep(double secs) {
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	double t0 = dl.tv_sec + dl.tv_nsec / 1e9;
	dl.tv_sec += (time_t)secs;
	dl.tv_nsec += (long)((secs - (time_t)secs) * 1e9);
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	int eintr = 0, r;
	fprintf(stderr, "blocked: sleeping\n");
	while ((r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL)) != 0) {
		if (r != EINTR) {
			fail("clock_nanosleep failed");
			return;
		}
		eintr++;
	}
	double t1 = mono();
	fprintf(stderr, "blocked: clock_nanosleep done after %.3f s (EINTR %d times)\n", t1 - t0, eintr);
	if (t1 < dl.tv_sec + dl.tv_nsec / 1e9)
		fail("clock_nanosleep returned before its deadline");
	printf("slept until start+%g s\n", secs);
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: blocked read EXPECTED | sleep SECS | abssleep SECS | both SECS EXPECTED\n");
		return 2;
	}
	pid_t pid = getpid();
	fprintf(stderr, "blocked: pid=%d\n", (int)pid);
	const char *mode = argv[1];
	printf("blocked: %s\n", mode);
	fflush(stdout);
	double secs = atof(argv[2]);
	if (strcmp(mode, "read") == 0) {
		do_read(argv[2]);
	} else if (strcmp(mode, "sleep") == 0) {
		do_sleep(&secs);
		printf("slept %g s\n", secs);
	} else if (strcmp(mode, "abssleep") == 0) {
		do_abssleep(secs);
	} else if (strcmp(mode, "both") == 0 && argc > 3) {
		pthread_t th;
		pthread_create(&th, NULL, do_sleep, &secs);
		do_read(argv[3]);
		int e = pthread_join(th, NULL);
		if (e != 0)
			fail("pthread_join failed");
		printf("slept %g s\n", secs);
	} else {
		fprintf(stderr, "blocked: unknown mode %s\n", mode);
		return 2;
	}
	fprintf(stderr, "blocked: end pid=%d\n", (int)getpid());
	if (getpid() != pid)
		fail("getpid() changed");
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
