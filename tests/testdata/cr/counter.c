// counter: a single-threaded checkpoint/restore victim with many kinds of
// memory. It fills every region with a known pattern, then runs a loop that
// updates a few words of every region per iteration, and at the end checks
// every region against a value computed from scratch (the loop is replayed
// without memory), the mappings' protections, the file on disk and the
// process's own pid.
//
//	counter [ITERATIONS [HEAP_MIB [DIR]]]
//
// ITERATIONS defaults to a ~3 s run; HEAP_MIB (default 64) scales the heap,
// the anonymous and the shared regions; DIR (default /tmp) receives the file
// that is mapped privately (it is removed at the end only when DIR is the
// default).
//
// stdout (deterministic: an uninterrupted run and a checkpointed/restored one
// print the same bytes): a header, 20 progress lines, a result line, then
// exactly "PASS" or "FAIL: <what>". stderr: "counter: pid=N", "counter:
// running" when the loop starts, "counter: end pid=N" after it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL
#define WPP (PAGE / 8) // 64-bit words per page
#define DEFAULT_ITERS 4000000L

static uint64_t mix(uint64_t x) {
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t init_val(uint64_t seed, uint64_t j) { return mix((seed << 40) ^ j); }
static uint64_t weight(uint64_t seed, uint64_t j) { return mix((seed << 50) ^ j ^ 0x5555) | 1; }

// A region of 64-bit words. Of its n words, the loop updates nrw of them:
// word k < nrw is word map(k) of the region (a hole of read-only words may sit
// in the middle, see ro).
struct region {
	const char *name;
	uint64_t *p;
	size_t n;
	uint64_t seed;
	size_t nrw;
	size_t hole_at, hole_len; // words [hole_at, hole_at+hole_len) are never updated
};

static size_t rw_index(const struct region *r, size_t k) {
	return (r->hole_len && k >= r->hole_at) ? k + r->hole_len : k;
}

static void fill(struct region *r) {
	for (size_t j = 0; j < r->n; j++)
		r->p[j] = init_val(r->seed, j);
}

static uint64_t weighted_sum(const struct region *r) {
	uint64_t s = 0;
	for (size_t j = 0; j < r->n; j++)
		s += r->p[j] * weight(r->seed, j);
	return s;
}

static uint64_t initial_sum(const struct region *r) {
	uint64_t s = 0;
	for (size_t j = 0; j < r->n; j++)
		s += init_val(r->seed, j) * weight(r->seed, j);
	return s;
}

// The update of iteration i to region r: word and delta.
static inline void update_of(const struct region *r, uint64_t i, size_t *idx, uint64_t *delta) {
	*idx = rw_index(r, mix(i ^ (r->seed << 32)) % r->nrw);
	*delta = mix(i + r->seed * 0x1000003ULL);
}

static char failures[4096];
static void fail(const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	size_t l = strlen(failures);
	if (l < sizeof failures - 3)
		snprintf(failures + l, sizeof failures - l, "%s%s", l ? "; " : "", buf);
}

static void die(const char *what) {
	printf("FAIL: %s: %s\n", what, strerror(errno));
	exit(1);
}

// perms returns the permission string ("rw-p") of the mapping holding addr.
static int perms(const void *addr, char out[5]) {
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	char line[4096];
	int found = -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char p[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && (unsigned long)addr >= lo && (unsigned long)addr < hi) {
			memcpy(out, p, 5);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

static void expect_perms(const char *what, const void *addr, const char *want) {
	char p[5] = "?";
	if (perms(addr, p) != 0)
		fail("%s: no mapping at %p", what, addr);
	else if (strcmp(p, want) != 0)
		fail("%s: mapping at %p is %s, want %s", what, addr, p, want);
}

static sigjmp_buf segv_jmp;
static volatile sig_atomic_t segv_count;
static void on_segv(int sig) {
	(void)sig;
	segv_count++;
	siglongjmp(segv_jmp, 1);
}

// faults reports whether reading addr raises SIGSEGV.
static int faults(volatile const uint64_t *addr) {
	int before = segv_count;
	if (sigsetjmp(segv_jmp, 1) == 0) {
		uint64_t v = *addr;
		(void)v;
	}
	return segv_count != before;
}

#define NREG 6
#define SPARSE_SIZE (64UL << 30) // MAP_NORESERVE: only a few pages are ever touched
#define SPARSE_TOUCHED 8
#define HIDDEN_PAGES 4
#define FILE_PAGES 256
#define FILE_RW_PAGES 16
#define STACK_WORDS (2UL << 20) / 8
#define LIST_NODES 2000

struct node {
	struct node *next;
	uint64_t val, idx;
};

static size_t sparse_off(int k) { return (size_t)k * (SPARSE_SIZE / SPARSE_TOUCHED) + (size_t)k * 7 * PAGE; }

static __attribute__((noinline)) int run(long iters, long heap_mib, const char *dir, int own_dir) {
	uint64_t stackbuf[STACK_WORDS]; // a few MiB of stack data
	pid_t pid = getpid();
	fprintf(stderr, "counter: pid=%d\n", (int)pid);
	printf("counter: iterations=%ld heap=%ldMiB\n", iters, heap_mib);
	fflush(stdout);

	size_t heap_bytes = (size_t)heap_mib << 20;
	size_t anon_bytes = heap_bytes / 8 < 256 * 1024 ? 256 * 1024 : heap_bytes / 8;
	size_t shm_bytes = heap_bytes / 16 < 64 * 1024 ? 64 * 1024 : heap_bytes / 16;

	// The private file mapping: a file this program writes itself.
	char path[4096];
	snprintf(path, sizeof path, "%s/counter-data-XXXXXX", dir);
	int wfd = mkstemp(path);
	if (wfd < 0)
		die("mkstemp");
	fprintf(stderr, "counter: file=%s\n", path);
	uint64_t *filebuf = malloc(FILE_PAGES * PAGE);
	for (size_t j = 0; j < FILE_PAGES * WPP; j++)
		filebuf[j] = init_val(4, j);
	if (write(wfd, filebuf, FILE_PAGES * PAGE) != (ssize_t)(FILE_PAGES * PAGE))
		die("write data file");
	close(wfd);
	free(filebuf);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open data file");
	if (lseek(fd, 12345, SEEK_SET) != 12345)
		die("lseek");

	struct region reg[NREG] = {
	    {.name = "heap", .seed = 1},  {.name = "anon", .seed = 2}, {.name = "shared", .seed = 3},
	    {.name = "file", .seed = 4},  {.name = "stack", .seed = 5}, {.name = "ro", .seed = 6},
	};
	reg[0].p = malloc(heap_bytes);
	reg[0].n = heap_bytes / 8;
	reg[1].p = mmap(NULL, anon_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg[1].n = anon_bytes / 8;
	reg[2].p = mmap(NULL, shm_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	reg[2].n = shm_bytes / 8;
	reg[3].p = mmap(NULL, FILE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	reg[3].n = FILE_PAGES * WPP;
	reg[4].p = stackbuf;
	reg[4].n = STACK_WORDS;
	reg[5].p = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg[5].n = 64 * WPP;
	if (!reg[0].p || reg[1].p == MAP_FAILED || reg[2].p == MAP_FAILED || reg[3].p == MAP_FAILED || reg[5].p == MAP_FAILED)
		die("allocate");
	for (int r = 0; r < NREG; r++) {
		reg[r].nrw = reg[r].n;
		if (r != 3) // the file mapping keeps the file's content: it is not filled
			fill(&reg[r]);
	}
	// Only the first pages of the file mapping are ever written: the others
	// stay the file's (page cache) pages.
	reg[3].nrw = FILE_RW_PAGES * WPP;
	// ro: pages 24..39 become read-only (the mapping splits in three).
	reg[5].hole_at = 24 * WPP;
	reg[5].hole_len = 16 * WPP;
	reg[5].nrw = reg[5].n - reg[5].hole_len;
	if (mprotect((char *)reg[5].p + 24 * PAGE, 16 * PAGE, PROT_READ) != 0)
		die("mprotect ro");
	// Read the file mapping once: its pages are present but still the file's.
	uint64_t touch = 0;
	for (size_t j = 0; j < reg[3].n; j += WPP)
		touch += reg[3].p[j];

	// A PROT_NONE guard that never held data, and PROT_NONE pages that do.
	char *guard = mmap(NULL, 16 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *hidden = mmap(NULL, HIDDEN_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED || hidden == MAP_FAILED)
		die("mmap guard");
	for (size_t j = 0; j < HIDDEN_PAGES * WPP; j++)
		hidden[j] = init_val(7, j);
	if (mprotect(hidden, HIDDEN_PAGES * PAGE, PROT_NONE) != 0)
		die("mprotect hidden");

	// A huge sparse region: a few pages touched.
	char *sparse = mmap(NULL, SPARSE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sparse == MAP_FAILED)
		die("mmap sparse");
	for (int k = 0; k < SPARSE_TOUCHED; k++)
		*(uint64_t *)(sparse + sparse_off(k)) = init_val(8, k);

	// Small allocations on the brk heap: a linked list.
	struct node *head = NULL;
	for (uint64_t i = 0; i < LIST_NODES; i++) {
		struct node *n = malloc(sizeof *n);
		n->val = mix(i ^ 0xabc);
		n->idx = i;
		n->next = head;
		head = n;
	}

	fprintf(stderr, "counter: running\n");
	uint64_t acc = 0, counter = 0;
	long step = iters / 20 ? iters / 20 : 1;
	for (long i = 0; i < iters; i++) {
		for (int r = 0; r < NREG; r++) {
			size_t idx;
			uint64_t d;
			update_of(&reg[r], (uint64_t)i, &idx, &d);
			reg[r].p[idx] += d;
			acc = mix(acc ^ reg[r].p[idx]);
		}
		*(uint64_t *)(sparse + sparse_off(i % SPARSE_TOUCHED)) += 1;
		counter++;
		if ((i + 1) % step == 0) {
			printf("step %ld/%ld acc=%016" PRIx64 "\n", i + 1, iters, acc);
			fflush(stdout);
		}
	}
	fprintf(stderr, "counter: end pid=%d\n", (int)getpid());

	// Verification, from scratch.
	if (getpid() != pid)
		fail("getpid() is %d, was %d", (int)getpid(), (int)pid);
	if (counter != (uint64_t)iters)
		fail("counter %" PRIu64 ", want %ld", counter, iters);
	uint64_t sums[NREG];
	for (int r = 0; r < NREG; r++) {
		uint64_t want = initial_sum(&reg[r]);
		for (long i = 0; i < iters; i++) {
			size_t idx;
			uint64_t d;
			update_of(&reg[r], (uint64_t)i, &idx, &d);
			want += d * weight(reg[r].seed, idx);
		}
		sums[r] = weighted_sum(&reg[r]);
		if (sums[r] != want)
			fail("%s region checksum %016" PRIx64 ", want %016" PRIx64, reg[r].name, sums[r], want);
	}
	// Protections.
	expect_perms("heap", reg[0].p, "rw-p");
	expect_perms("shared", reg[2].p, "rw-s");
	expect_perms("file mapping", reg[3].p, "rw-p");
	expect_perms("ro before", reg[5].p, "rw-p");
	expect_perms("ro", (char *)reg[5].p + 24 * PAGE, "r--p");
	expect_perms("ro after", (char *)reg[5].p + 40 * PAGE, "rw-p");
	expect_perms("guard", guard, "---p");
	expect_perms("hidden", hidden, "---p");
	struct sigaction sa = {.sa_handler = on_segv};
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	if (!faults((uint64_t *)guard) || !faults((uint64_t *)(guard + 15 * PAGE)))
		fail("the PROT_NONE guard can be read");
	if (!faults(hidden))
		fail("the PROT_NONE pages can be read");
	signal(SIGSEGV, SIG_DFL);
	if (mprotect(hidden, HIDDEN_PAGES * PAGE, PROT_READ) != 0)
		die("mprotect hidden back");
	for (size_t j = 0; j < HIDDEN_PAGES * WPP; j++)
		if (hidden[j] != init_val(7, j)) {
			fail("PROT_NONE page content differs at word %zu", j);
			break;
		}
	// The sparse region: touched pages hold their values, few pages are
	// resident, untouched pages read as zero.
	for (int k = 0; k < SPARSE_TOUCHED; k++) {
		uint64_t want = init_val(8, k) + (uint64_t)(iters / SPARSE_TOUCHED + (k < iters % SPARSE_TOUCHED));
		uint64_t got = *(uint64_t *)(sparse + sparse_off(k));
		if (got != want)
			fail("sparse page %d holds %016" PRIx64 ", want %016" PRIx64, k, got, want);
	}
	{
		size_t chunk = 1UL << 30, resident = 0;
		unsigned char *vec = malloc(chunk / PAGE);
		for (size_t off = 0; off < SPARSE_SIZE; off += chunk) {
			if (mincore(sparse + off, chunk, vec) != 0)
				die("mincore");
			for (size_t p = 0; p < chunk / PAGE; p++)
				resident += vec[p] & 1;
		}
		free(vec);
		if (resident > 64)
			fail("%zu pages of the sparse region are resident, want at most 64", resident);
		for (int k = 0; k < SPARSE_TOUCHED; k++)
			if (*(uint64_t *)(sparse + sparse_off(k) + 3 * PAGE) != 0)
				fail("untouched sparse page near %d is not zero", k);
	}
	// The brk list.
	{
		uint64_t want = LIST_NODES;
		for (struct node *n = head; n; n = n->next) {
			want--;
			if (n->idx != want || n->val != mix(want ^ 0xabc)) {
				fail("list node %" PRIu64 " corrupt", want);
				break;
			}
		}
		if (want != 0)
			fail("list is short by %" PRIu64 " nodes", want);
	}
	// The file on disk is unchanged (private mapping), the fd and its offset
	// are still there.
	{
		uint64_t *buf = malloc(FILE_PAGES * PAGE);
		ssize_t n = pread(fd, buf, FILE_PAGES * PAGE, 0);
		if (n != (ssize_t)(FILE_PAGES * PAGE))
			fail("pread data file: %zd", n);
		else
			for (size_t j = 0; j < FILE_PAGES * WPP; j++)
				if (buf[j] != init_val(4, j)) {
					fail("data file changed on disk at word %zu", j);
					break;
				}
		free(buf);
		off_t pos = lseek(fd, 0, SEEK_CUR);
		if (pos != 12345)
			fail("data file offset %lld, want 12345", (long long)pos);
		// Untouched pages of the file mapping are the file's.
		for (size_t j = FILE_RW_PAGES * WPP; j < reg[3].n; j++)
			if (reg[3].p[j] != init_val(4, j)) {
				fail("file mapping differs from the file at word %zu", j);
				break;
			}
	}
	(void)touch;
	printf("result: counter=%" PRIu64 " acc=%016" PRIx64 " heap=%016" PRIx64 " anon=%016" PRIx64 " shared=%016" PRIx64
	       " file=%016" PRIx64 " stack=%016" PRIx64 " ro=%016" PRIx64 "\n",
	       counter, acc, sums[0], sums[1], sums[2], sums[3], sums[4], sums[5]);
	if (own_dir)
		unlink(path);
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}

int main(int argc, char **argv) {
	long iters = argc > 1 ? atol(argv[1]) : DEFAULT_ITERS;
	long heap = argc > 2 ? atol(argv[2]) : 64;
	const char *dir = argc > 3 ? argv[3] : "/tmp";
	if (iters <= 0 || heap <= 0) {
		fprintf(stderr, "usage: counter [ITERATIONS [HEAP_MIB [DIR]]]\n");
		return 2;
	}
	return run(iters, heap, dir, argc <= 3);
}
