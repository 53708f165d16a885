// bench/memhog.c — the app of the checkpoint/restore benchmark (bench/crbench).
//
// Maps a region, fills it with pseudo-random data, then keeps every thread
// rewriting random words of its own part of the region while it maintains a
// checksum of that part, so that a checkpoint catches it in the middle of its
// work. On SIGUSR2 every thread stops, checks its part against its checksum,
// and the process prints VERIFY PASS or VERIFY FAIL and exits (0 or 3).
//
//   memhog [-m MiB] [-t THREADS] [-s TOUCHED_MiB] [-p PROGRESS_MS] [-x SPARE_MiB] [-d DATA] [-c]
//     -m  size of the region (default 256)
//     -t  threads, the main thread included (default 1)
//     -s  sparse: map the region MAP_NORESERVE and touch only TOUCHED_MiB of it,
//         one page every (region / touched pages) bytes; the untouched pages
//         must still read as zero when verified
//     -p  the main thread prints "P <seq> <iterations>" every PROGRESS_MS ms
//         (default 5)
//     -c  corrupt one word before verifying (to test that FAIL is reported)
//     -d  what the words hold: random (default: pseudo-random, incompressible),
//         doubles (an array of doubles as a numerical code holds it: per 4
//         words, two of a smooth field with full mantissas, a grid
//         coordinate and a small integer count; rewrites stay doubles of the
//         same kind), zero (every page touched, every word 0; rewrites store
//         0: a calloc'd array read in place)
//     -x  also map SPARE_MiB that memhog never touches (MAP_NORESERVE); its
//         address is printed, for a raw process_vm_writev measurement
//
// Output (stdout, one write(2) per line, no buffering):
//   MEMHOG ready pid=P addr=0x... len=N data=N threads=T fill_ms=F spare=0x... spare_len=N
//   P <seq> <iterations of all threads>           every PROGRESS_MS
//   VERIFY PASS words=N ms=M maxgap_ms=G  |  VERIFY FAIL <what>
// maxgap_ms is the app's own view of its longest stall: the largest gap
// between two consecutive clock reads of the main thread's work loop (one
// every 16 bursts, a few microseconds apart when it runs), over the whole run
// after "ready"; a checkpoint that pauses the app shows up there.
// A failure before "ready" exits 2.
//
// The checksum of a part is the XOR over its words of mix(word index, value).
// A write updates it incrementally: chk ^= mix(i, old) ^ mix(i, new). A
// thread stopped between the store and the update (by a checkpoint) finishes
// the update when it is restored, so a correct checkpoint/restore always
// verifies.

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hog.h"

#define PAGE 4096UL
#define WPP (PAGE / 8) // words per page
#define MAXT 64

struct worker {
	int id;
	uint64_t *words; // dense: the thread's slice; sparse: unused
	size_t nwords;   // dense: words in the slice
	size_t pg0, npg; // sparse: the thread's touched pages [pg0, pg0+npg)
	uint64_t rng;
	uint64_t chk;                    // published when parked
	_Atomic uint64_t iters;          // work done, for the progress line
	char fail[160];                  // verification result
	char pad[64];
} __attribute__((aligned(64)));

static struct worker W[MAXT];
static int nthreads = 1;
static uint64_t *region;
static size_t region_len;
static int sparse;
static size_t touched_pages, page_stride; // sparse
static pthread_barrier_t fill_done;
static _Atomic int park_req, verified;
static int corrupt; // -c: flip a bit before verifying (tests the FAIL path)
static volatile sig_atomic_t verify_sig;

static uint64_t mix(uint64_t i, uint64_t v) {
	uint64_t z = v ^ (i * 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

// Word index i of the region (global index, so a part's checksum does not
// depend on how the region was split).
static inline uint64_t *word(size_t i) { return region + i; }

// The global word index of the k-th word a worker owns.
static inline size_t owned(const struct worker *w, size_t k) {
	if (!sparse) return (size_t)(w->words - region) + k;
	size_t pg = w->pg0 + k / WPP;
	return pg * page_stride * WPP + k % WPP;
}
static inline size_t nowned(const struct worker *w) { return sparse ? w->npg * WPP : w->nwords; }

enum { DATA_RANDOM, DATA_DOUBLES, DATA_ZERO };
static int data_kind = DATA_RANDOM;

// value is the word to store at index i (r: a fresh random number).
static inline uint64_t value(size_t i, uint64_t r) {
	double d;
	switch (data_kind) {
	case DATA_ZERO: return 0;
	case DATA_DOUBLES:
		switch (i % 4) {
		case 0:
		case 1: d = 1.0 / (1.0 + (double)(i % 100003) * 0.37 + (double)(r & 0xff) * 1e-7); break;
		case 2: d = (double)i * 0.25; break;
		default: d = (double)((i + (r & 7)) % 1000); break;
		}
		uint64_t v;
		memcpy(&v, &d, sizeof v);
		return v;
	}
	return r;
}

static void fill(struct worker *w) {
	size_t n = nowned(w);
	uint64_t c = 0;
	for (size_t k = 0; k < n; k++) {
		size_t i = owned(w, k);
		uint64_t v = value(i, next(&w->rng));
		*word(i) = v;
		c ^= mix(i, v);
	}
	w->chk = c;
}

static void verify(struct worker *w) {
	size_t n = nowned(w);
	uint64_t c = 0;
	for (size_t k = 0; k < n; k++) {
		size_t i = owned(w, k);
		c ^= mix(i, *word(i));
	}
	if (c != w->chk) {
		snprintf(w->fail, sizeof w->fail, "thread %d: checksum %016" PRIx64 " != expected %016" PRIx64, w->id, c,
		         w->chk);
		return;
	}
	if (sparse) { // the untouched pages of this worker's stretch must read zero
		size_t first = w->pg0 * page_stride, last = (w->pg0 + w->npg) * page_stride;
		// two untouched pages per stride: reading every one would fault in
		// a zero-page mapping per page and take seconds
		for (size_t pg = first; pg < last; pg++) {
			size_t r = pg % page_stride;
			if (r != 1 && r != page_stride / 2) continue;
			const uint64_t *p = region + pg * WPP;
			if (p[0] | p[WPP / 2] | p[WPP - 1]) {
				snprintf(w->fail, sizeof w->fail, "thread %d: untouched page %zu is not zero", w->id, pg);
				return;
			}
		}
	}
}

// One burst of work: 256 random rewrites in the worker's part.
static void burst(struct worker *w, uint64_t *chk) {
	size_t n = nowned(w);
	for (int j = 0; j < 256; j++) {
		size_t i = owned(w, next(&w->rng) % n);
		uint64_t *p = word(i);
		uint64_t old = *p, v = value(i, next(&w->rng));
		*p = v;
		*chk ^= mix(i, old) ^ mix(i, v);
	}
	atomic_fetch_add_explicit(&w->iters, 1, memory_order_relaxed);
}

static void *run(void *arg) {
	struct worker *w = arg;
	fill(w);
	pthread_barrier_wait(&fill_done);
	uint64_t chk = w->chk;
	for (;;) {
		if (atomic_load_explicit(&park_req, memory_order_acquire)) {
			w->chk = chk;
			verify(w);
			atomic_fetch_add(&verified, 1);
			for (;;) pause(); // the main thread exits the process
		}
		burst(w, &chk);
	}
	return NULL;
}

static void on_usr2(int sig) {
	(void)sig;
	verify_sig = 1;
}

static void usage(void) {
	fprintf(stderr, "usage: memhog [-m MiB] [-t THREADS] [-s TOUCHED_MiB] [-p PROGRESS_MS] [-x SPARE_MiB] [-d random|doubles|zero] [-c]\n");
	exit(2);
}

static long num(const char *s) {
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v <= 0) usage();
	return v;
}

int main(int argc, char **argv) {
	long mib = 256, touched_mib = 0, progress_ms = 5, spare_mib = 0;
	int c;
	while ((c = getopt(argc, argv, "m:t:s:p:x:d:c")) != -1) {
		switch (c) {
		case 'm': mib = num(optarg); break;
		case 't': nthreads = (int)num(optarg); break;
		case 's': touched_mib = num(optarg); sparse = 1; break;
		case 'p': progress_ms = num(optarg); break;
		case 'x': spare_mib = num(optarg); break;
		case 'c': corrupt = 1; break;
		case 'd':
			if (!strcmp(optarg, "random")) data_kind = DATA_RANDOM;
			else if (!strcmp(optarg, "doubles")) data_kind = DATA_DOUBLES;
			else if (!strcmp(optarg, "zero")) data_kind = DATA_ZERO;
			else usage();
			break;
		default: usage();
		}
	}
	if (optind != argc || nthreads > MAXT) usage();
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_usr2};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);

	region_len = (size_t)mib << 20;
	size_t npages = region_len / PAGE;
	region = mmap(NULL, region_len, PROT_READ | PROT_WRITE,
	              MAP_PRIVATE | MAP_ANONYMOUS | (sparse ? MAP_NORESERVE : 0), -1, 0);
	if (region == MAP_FAILED) {
		perror("memhog: mmap");
		return 2;
	}
	void *spare = NULL;
	if (spare_mib) {
		spare = mmap(NULL, (size_t)spare_mib << 20, PROT_READ | PROT_WRITE,
		             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (spare == MAP_FAILED) {
			perror("memhog: mmap spare");
			return 2;
		}
	}
	size_t data_len;
	if (sparse) {
		touched_pages = ((size_t)touched_mib << 20) / PAGE;
		if (touched_pages == 0 || touched_pages > npages || touched_pages < (size_t)nthreads) {
			fprintf(stderr, "memhog: bad -s for -m and -t\n");
			return 2;
		}
		page_stride = npages / touched_pages;
		data_len = touched_pages * PAGE;
	} else {
		if (npages < (size_t)nthreads) {
			fprintf(stderr, "memhog: region too small for -t\n");
			return 2;
		}
		data_len = region_len;
	}
	for (int t = 0; t < nthreads; t++) {
		struct worker *w = &W[t];
		w->id = t;
		w->rng = 0x853C49E6748FEA9BULL ^ ((uint64_t)(t + 1) * 0xD1B54A32D192ED03ULL);
		if (sparse) {
			w->pg0 = touched_pages * t / nthreads;
			w->npg = touched_pages * (t + 1) / nthreads - w->pg0;
		} else {
			size_t p0 = npages * t / nthreads, p1 = npages * (t + 1) / nthreads;
			w->words = region + p0 * WPP;
			w->nwords = (p1 - p0) * WPP;
		}
	}

	double t0 = now_ms();
	pthread_barrier_init(&fill_done, NULL, nthreads);
	for (int t = 1; t < nthreads; t++) {
		pthread_t th;
		int e = pthread_create(&th, NULL, run, &W[t]);
		if (e) {
			fprintf(stderr, "memhog: pthread_create: %s\n", strerror(e));
			return 2;
		}
	}
	struct worker *me = &W[0];
	fill(me);
	pthread_barrier_wait(&fill_done);
	say("MEMHOG ready pid=%d addr=%p len=%zu data=%zu threads=%d fill_ms=%.0f spare=%p spare_len=%zu\n", getpid(),
	    (void *)region, region_len, data_len, nthreads, now_ms() - t0, spare, (size_t)spare_mib << 20);

	uint64_t chk = me->chk, seq = 0;
	double next_progress = now_ms(), last_tick = next_progress, maxgap = 0;
	for (unsigned n = 0;; n++) {
		if (verify_sig) {
			double v0 = now_ms();
			atomic_store_explicit(&park_req, 1, memory_order_release);
			me->chk = chk;
			if (corrupt) *word(owned(me, 0)) ^= 1;
			verify(me);
			while (atomic_load(&verified) < nthreads - 1) sched_yield();
			int bad = 0;
			for (int t = 0; t < nthreads; t++) {
				if (W[t].fail[0]) {
					say("VERIFY FAIL %s\n", W[t].fail);
					bad = 1;
				}
			}
			if (!bad) say("VERIFY PASS words=%zu ms=%.0f maxgap_ms=%.2f\n", data_len / 8, now_ms() - v0, maxgap);
			_exit(bad ? 3 : 0);
		}
		burst(me, &chk);
		if ((n & 15) == 0) {
			double t = now_ms();
			if (t - last_tick > maxgap) maxgap = t - last_tick;
			last_tick = t;
			if (t >= next_progress) {
				uint64_t it = 0;
				for (int k = 0; k < nthreads; k++) it += atomic_load_explicit(&W[k].iters, memory_order_relaxed);
				say("P %" PRIu64 " %" PRIu64 "\n", ++seq, it);
				next_progress = t + progress_ms;
			}
		}
	}
}
