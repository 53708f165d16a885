// compute: a small deterministic computation for the Slurm end-to-end tests
// (tests/slurm_test.go), paced by the clock so that it outlasts a job's time
// limit without using a whole CPU.
//
//   compute STEPS MS_PER_STEP
//
// A 4 MiB state evolves for STEPS steps; after each step the program sleeps
// MS_PER_STEP ms (0: not at all, for the reference run). Every 10 steps it
// prints "step N/STEPS sum HEX" on stdout, at the end "result HEX" and "PASS",
// or "FAIL: <what>" when its own checks fail:
//   - the final state is recomputed from scratch in a second buffer (no
//     sleeps) and must match the state carried through every checkpoint and
//     restore, word for word;
//   - a running digest kept in a separate variable must match the digest of
//     the recomputation (registers and stack survive, not only the heap);
//   - getpid() must be the same as at the start (crrun restores the pid).
// stdout depends only on STEPS: an uninterrupted run and a run cut by any
// number of checkpoint/restore cycles print the same bytes. On stderr:
// "compute: pid=N" at the start and "compute: end pid=N" at the end.
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORDS (4u << 20) / 8u

static uint64_t mix(uint64_t x) {
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static void init(uint64_t *s) {
	for (uint64_t i = 0; i < WORDS; i++)
		s[i] = mix(i + 0x9e3779b97f4a7c15ULL);
}

// step advances the state by one step and returns its digest.
static uint64_t step(uint64_t *s, uint64_t n) {
	uint64_t carry = mix(n), sum = 0;
	for (uint64_t i = 0; i < WORDS; i++) {
		carry = mix(s[i] ^ carry) + i;
		s[i] = carry;
		sum = sum * 31 + carry;
	}
	return sum;
}

// pause_ms sleeps ms milliseconds in all, whatever interrupts it (a restore
// makes an interrupted nanosleep return EINTR once).
static void pause_ms(long ms) {
	struct timespec req = {ms / 1000, (ms % 1000) * 1000000L}, rem;
	while (nanosleep(&req, &rem) != 0) {
		if (errno != EINTR) {
			perror("nanosleep");
			exit(2);
		}
		req = rem;
	}
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: compute STEPS MS_PER_STEP\n");
		return 2;
	}
	long steps = atol(argv[1]), ms = atol(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	pid_t pid = getpid();
	fprintf(stderr, "compute: pid=%d\n", (int)pid);

	uint64_t *s = malloc(WORDS * 8), *check = malloc(WORDS * 8);
	if (!s || !check) {
		printf("FAIL: malloc\n");
		return 1;
	}
	init(s);
	uint64_t digest = 0;
	for (long n = 1; n <= steps; n++) {
		uint64_t sum = step(s, (uint64_t)n);
		digest = mix(digest ^ sum);
		if (n % 10 == 0 || n == steps)
			printf("step %ld/%ld sum %016" PRIx64 "\n", n, steps, sum);
		if (ms > 0)
			pause_ms(ms);
	}

	init(check);
	uint64_t want = 0;
	for (long n = 1; n <= steps; n++)
		want = mix(want ^ step(check, (uint64_t)n));
	printf("result %016" PRIx64 "\n", digest);
	fprintf(stderr, "compute: end pid=%d\n", (int)getpid());
	if (memcmp(s, check, WORDS * 8) != 0) {
		printf("FAIL: the state carried through the run differs from a recomputation\n");
		return 1;
	}
	if (digest != want) {
		printf("FAIL: running digest %016" PRIx64 ", recomputed %016" PRIx64 "\n", digest, want);
		return 1;
	}
	if (getpid() != pid) {
		printf("FAIL: pid %d at the start, %d at the end\n", (int)pid, (int)getpid());
		return 1;
	}
	printf("PASS\n");
	return 0;
}
