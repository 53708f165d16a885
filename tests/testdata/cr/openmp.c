// openmp: an OpenMP checkpoint/restore victim (gcc -fopenmp).
//
//	openmp [ITERATIONS]
//
// Each iteration updates a 16 MiB array in a `parallel for` with a sum
// reduction, recomputes the sum with another schedule and an xor reduction,
// and counts with `omp atomic` and `omp critical`. Integer arithmetic only:
// the results do not depend on how the work was split, so they are
// deterministic. At the end, sampled elements are recomputed serially.
//
// stdout (deterministic): a header, 10 progress lines, a result line, then
// exactly "PASS" or "FAIL: <what>". stderr: "openmp: pid=N", "openmp:
// running", "openmp: end pid=N".
#include <inttypes.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N (2UL << 20) // 16 MiB of uint64_t
#define NTHREADS 4
#define DEFAULT_ITERS 300L

static uint64_t mix(uint64_t x) {
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t step(uint64_t a, long it, size_t i) { return a * 6364136223846793005ULL + (uint64_t)it * 1442695040888963407ULL + i; }

int main(int argc, char **argv) {
	long iters = argc > 1 ? atol(argv[1]) : DEFAULT_ITERS;
	if (iters <= 0) {
		fprintf(stderr, "usage: openmp [ITERATIONS]\n");
		return 2;
	}
	pid_t pid = getpid();
	fprintf(stderr, "openmp: pid=%d\n", (int)pid);
	printf("openmp: threads=%d iterations=%ld\n", NTHREADS, iters);
	fflush(stdout);
	omp_set_dynamic(0);
	omp_set_num_threads(NTHREADS);
	uint64_t *a = malloc(N * sizeof *a);
	if (!a) {
		printf("FAIL: malloc\n");
		return 1;
	}
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < N; i++)
		a[i] = mix(i);

	char failures[2048] = "";
	uint64_t acc = 0, atomics = 0, criticals = 0;
	int team = 0;
#pragma omp parallel
	{
#pragma omp single
		team = omp_get_num_threads();
	}
	fprintf(stderr, "openmp: running\n");
	for (long it = 0; it < iters; it++) {
		uint64_t s1 = 0, s2 = 0, x1 = 0;
#pragma omp parallel for schedule(static) reduction(+ : s1)
		for (size_t i = 0; i < N; i++) {
			a[i] = step(a[i], it, i);
			s1 += a[i] >> 3;
		}
#pragma omp parallel for schedule(dynamic, 4096) reduction(+ : s2) reduction(^ : x1)
		for (size_t i = 0; i < N; i++) {
			s2 += a[i] >> 3;
			x1 ^= mix(a[i]);
		}
#pragma omp parallel
		{
#pragma omp atomic
			atomics++;
#pragma omp critical
			criticals += (uint64_t)omp_get_thread_num() + 1;
		}
		if (s1 != s2 && !failures[0])
			snprintf(failures, sizeof failures, "iteration %ld: the two reductions differ (%016" PRIx64 " vs %016" PRIx64 ")", it, s1, s2);
		acc = mix(acc ^ s1 ^ (x1 << 1));
		if ((it + 1) % (iters / 10 ? iters / 10 : 1) == 0) {
			printf("iteration %ld/%ld acc=%016" PRIx64 "\n", it + 1, iters, acc);
			fflush(stdout);
		}
	}
	fprintf(stderr, "openmp: end pid=%d\n", (int)getpid());
	// Serial recomputation of sampled elements.
	for (size_t i = 0; i < N && !failures[0]; i += 4099) {
		uint64_t v = mix(i);
		for (long it = 0; it < iters; it++)
			v = step(v, it, i);
		if (v != a[i])
			snprintf(failures, sizeof failures, "element %zu is %016" PRIx64 ", want %016" PRIx64, i, a[i], v);
	}
	if (!failures[0] && atomics != (uint64_t)iters * team)
		snprintf(failures, sizeof failures, "omp atomic count %" PRIu64 ", want %" PRIu64, atomics, (uint64_t)iters * team);
	if (!failures[0] && criticals != (uint64_t)iters * team * (team + 1) / 2)
		snprintf(failures, sizeof failures, "omp critical sum %" PRIu64 " wrong", criticals);
	if (!failures[0] && getpid() != pid)
		snprintf(failures, sizeof failures, "getpid() is %d, was %d", (int)getpid(), (int)pid);
	printf("result: acc=%016" PRIx64 " atomics=%" PRIu64 " criticals=%" PRIu64 "\n", acc, atomics, criticals);
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
