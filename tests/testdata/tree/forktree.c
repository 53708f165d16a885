/* forktree: a parent and 3 children sharing state in every way a fork
 * shares it, across a checkpoint.
 *   forktree DIR [ROUNDS]
 * Shared before fork: one file DIR/forktree.log opened once (no O_APPEND: all
 * four processes write 32-byte records at one shared offset), a
 * MAP_SHARED|MAP_ANONYMOUS region of counters every process increments with
 * atomics, and a memfd mapped shared where each child leaves its checksum.
 * Per child two pipes: the parent writes a 12 KiB chunk of deterministic
 * bytes down each every 300 ms (ROUNDS rounds, default 10: ~3 s); the child
 * reads 1 KiB every 30 ms, slower than that, so data waits in the pipe; for
 * every block it sends a 16-byte summary up its other pipe, which the parent
 * reads only at the end (so that data waits too). At the end: every summary
 * and checksum against a recomputation, the counters' totals, the memfd
 * slots, the children's exit statuses, and every record of the file.
 *
 * stdout (deterministic, printed by the parent only): a header, one line per
 * round, result lines, then exactly "PASS" or "FAIL: <what>". stderr:
 * "forktree: pid=N", "forktree: running", "forktree: end pid=N". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "victim.h"

#define NCHILD 3
#define CHUNK (12 * 1024)
#define BLOCK 1024
#define REC 32
#define FINAL 0xffffffffu

// read_full reads up to n bytes, fewer only at EOF; -1 on error.
static ssize_t read_full(int fd, void *p, size_t n) {
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

// The bytes of child i's stream: byte k.
static unsigned char stream_byte(int i, uint64_t k) { return (unsigned char)(mix(((uint64_t)i << 40) ^ (k / 8)) >> (8 * (k % 8))); }

static uint64_t block_hash(const unsigned char *b, size_t n) {
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t j = 0; j < n; j++)
		h = (h ^ b[j]) * 0x100000001b3ULL;
	return h;
}

struct summary {
	uint32_t child, block;
	uint64_t hash;
};

struct counters {
	uint64_t blocks, bytes, rounds, records;
	uint64_t per[NCHILD + 1]; // per writer: 0 is the parent
};

// record writes "wW bBBBBB HHHHHHHHHHHHHHHH" padded to 32 bytes through the
// shared fd (one write: the shared offset moves atomically).
static int record(int fd, struct counters *ctr, int w, uint32_t n, uint64_t h) {
	char r[REC + 1];
	int l = snprintf(r, sizeof r, "w%d b%05u %016" PRIx64, w, n, h);
	memset(r + l, ' ', REC - 1 - (size_t)l);
	r[REC - 1] = '\n';
	if (write_all(fd, r, REC) != 0)
		return -1;
	__atomic_fetch_add(&ctr->records, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void child(int i, int down, int up, int logfd, struct counters *ctr, uint64_t *slots) {
	unsigned char buf[BLOCK];
	uint64_t cs = 0;
	uint32_t n = 0;
	for (;;) {
		ssize_t r = read_full(down, buf, BLOCK);
		if (r < 0)
			_exit(3);
		if (r == 0)
			break;
		uint64_t h = block_hash(buf, (size_t)r);
		cs = mix(cs ^ h);
		struct summary s = {(uint32_t)i, n, h};
		if (write_all(up, &s, sizeof s) != 0)
			_exit(4);
		if (record(logfd, ctr, i + 1, n, h) != 0)
			_exit(5);
		__atomic_fetch_add(&ctr->blocks, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&ctr->bytes, (uint64_t)r, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&ctr->per[i + 1], 1, __ATOMIC_SEQ_CST);
		n++;
		sleep_ms(30);
	}
	__atomic_store_n(&slots[i], cs, __ATOMIC_SEQ_CST);
	struct summary s = {(uint32_t)i, FINAL, cs};
	if (write_all(up, &s, sizeof s) != 0)
		_exit(4);
	_exit(0);
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: forktree DIR [ROUNDS]\n");
		return 2;
	}
	int rounds = argc > 2 ? atoi(argv[2]) : 10;
	if (rounds <= 0)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t me = getpid();
	fprintf(stderr, "forktree: pid=%d\n", (int)me);
	printf("forktree: children=%d rounds=%d chunk=%d block=%d\n", NCHILD, rounds, CHUNK, BLOCK);

	char path[4096];
	snprintf(path, sizeof path, "%s/forktree.log", argv[1]);
	int logfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (logfd < 0)
		die("open log");
	struct counters *ctr = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctr == MAP_FAILED)
		die("mmap shared");
	int mfd = memfd_create("forktree", 0);
	if (mfd < 0)
		die("memfd_create");
	if (ftruncate(mfd, 4096) != 0)
		die("ftruncate memfd");
	const char magic[] = "written through the memfd fd";
	if (pwrite(mfd, magic, sizeof magic, 2048) != (ssize_t)sizeof magic)
		die("pwrite memfd");
	uint64_t *slots = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (slots == MAP_FAILED)
		die("mmap memfd");

	int down[NCHILD][2], up[NCHILD][2];
	for (int i = 0; i < NCHILD; i++)
		if (pipe(down[i]) != 0 || pipe(up[i]) != 0)
			die("pipe");
	pid_t kids[NCHILD];
	for (int i = 0; i < NCHILD; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			die("fork");
		if (kids[i] == 0) {
			for (int j = 0; j < NCHILD; j++) {
				close(down[j][1]);
				close(up[j][0]);
				if (j != i) {
					close(down[j][0]);
					close(up[j][1]);
				}
			}
			child(i, down[i][0], up[i][1], logfd, ctr, slots);
		}
	}
	for (int i = 0; i < NCHILD; i++) {
		close(down[i][0]);
		close(up[i][1]);
	}

	fprintf(stderr, "forktree: running\n");
	unsigned char *chunk = malloc(CHUNK);
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < NCHILD; i++) {
			for (size_t k = 0; k < CHUNK; k++)
				chunk[k] = stream_byte(i, (uint64_t)r * CHUNK + k);
			if (write_all(down[i][1], chunk, CHUNK) != 0)
				die("write down");
		}
		if (record(logfd, ctr, 0, (uint32_t)r, mix((uint64_t)r)) != 0)
			die("write log");
		__atomic_fetch_add(&ctr->rounds, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&ctr->per[0], 1, __ATOMIC_SEQ_CST);
		printf("round %d/%d sent\n", r + 1, rounds);
		sleep_ms(300);
	}
	for (int i = 0; i < NCHILD; i++)
		close(down[i][1]);

	// Collect: every child's summaries, in order, then its final checksum.
	uint32_t nblocks = (uint32_t)((uint64_t)rounds * CHUNK / BLOCK);
	uint64_t want_cs[NCHILD], got_cs[NCHILD];
	unsigned char blk[BLOCK];
	for (int i = 0; i < NCHILD; i++) {
		want_cs[i] = 0;
		got_cs[i] = 0;
		uint32_t n = 0;
		int done = 0;
		struct summary s;
		ssize_t r;
		while ((r = read_full(up[i][0], &s, sizeof s)) == (ssize_t)sizeof s) {
			if (s.child != (uint32_t)i) {
				fail("child %d's pipe carries a summary of child %u", i, s.child);
				break;
			}
			if (s.block == FINAL) {
				got_cs[i] = s.hash;
				done = 1;
				continue;
			}
			if (done || s.block != n) {
				fail("child %d: summary of block %u, want %u", i, s.block, n);
				break;
			}
			for (size_t k = 0; k < BLOCK; k++)
				blk[k] = stream_byte(i, (uint64_t)n * BLOCK + k);
			uint64_t h = block_hash(blk, BLOCK);
			want_cs[i] = mix(want_cs[i] ^ h);
			if (s.hash != h) {
				fail("child %d: block %u hash %016" PRIx64 ", want %016" PRIx64, i, n, s.hash, h);
				break;
			}
			n++;
		}
		if (r < 0)
			fail("read child %d's pipe: %s", i, strerror(errno));
		if (n != nblocks || !done)
			fail("child %d: %u block summaries%s, want %u and a checksum", i, n, done ? "" : " and no checksum", nblocks);
		else if (got_cs[i] != want_cs[i])
			fail("child %d: checksum %016" PRIx64 ", want %016" PRIx64, i, got_cs[i], want_cs[i]);
	}
	for (int i = 0; i < NCHILD; i++) {
		int st = 0;
		pid_t w = waitpid(kids[i], &st, 0);
		if (w != kids[i])
			fail("waitpid(child %d = %d) returned %d (%s)", i, (int)kids[i], (int)w, w < 0 ? strerror(errno) : "");
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail("child %d's status %#x, want exit 0", i, st);
	}
	fprintf(stderr, "forktree: end pid=%d\n", (int)getpid());

	if (getpid() != me)
		fail("getpid() is %d, was %d", (int)getpid(), (int)me);
	// The counters.
	uint64_t total = (uint64_t)NCHILD * nblocks;
	if (ctr->blocks != total || ctr->bytes != total * BLOCK || ctr->rounds != (uint64_t)rounds)
		fail("counters: blocks %" PRIu64 " bytes %" PRIu64 " rounds %" PRIu64 ", want %" PRIu64 " %" PRIu64 " %d",
		     ctr->blocks, ctr->bytes, ctr->rounds, total, total * BLOCK, rounds);
	if (ctr->per[0] != (uint64_t)rounds)
		fail("counters: parent %" PRIu64 ", want %d", ctr->per[0], rounds);
	for (int i = 0; i < NCHILD; i++)
		if (ctr->per[i + 1] != nblocks)
			fail("counters: child %d %" PRIu64 ", want %u", i, ctr->per[i + 1], nblocks);
	// The memfd: the children's slots, the parent's pwrite, through the mapping.
	for (int i = 0; i < NCHILD; i++)
		if (slots[i] != want_cs[i])
			fail("memfd slot %d holds %016" PRIx64 ", want %016" PRIx64, i, slots[i], want_cs[i]);
	if (memcmp((char *)slots + 2048, magic, sizeof magic) != 0)
		fail("the memfd mapping does not show what was written through the fd");
	struct stat mst;
	if (fstat(mfd, &mst) != 0 || mst.st_size != 4096)
		fail("memfd size %lld, want 4096", (long long)mst.st_size);
	// The file: one shared offset, so records never overlap and the offset
	// is at the end.
	uint64_t nrec = total + (uint64_t)rounds;
	off_t off = lseek(logfd, 0, SEEK_CUR);
	if (off != (off_t)(nrec * REC))
		fail("shared offset %lld, want %" PRIu64, (long long)off, nrec * REC);
	if (ctr->records != nrec)
		fail("records counter %" PRIu64 ", want %" PRIu64, ctr->records, nrec);
	char *data = malloc(nrec * REC + 1);
	ssize_t got = pread(logfd, data, nrec * REC + 1, 0);
	uint64_t file_hash = 0;
	if (got != (ssize_t)(nrec * REC))
		fail("the log holds %zd bytes, want %" PRIu64, got, nrec * REC);
	else {
		uint32_t next[NCHILD + 1] = {0};
		for (uint64_t k = 0; k < nrec; k++) {
			char *rec = data + k * REC;
			int w;
			unsigned n;
			uint64_t h;
			if (rec[REC - 1] != '\n' || sscanf(rec, "w%d b%u %" SCNx64, &w, &n, &h) != 3 || w < 0 || w > NCHILD) {
				fail("log record %" PRIu64 " is garbled: %.31s", k, rec);
				break;
			}
			if (n != next[w]) {
				fail("log record %" PRIu64 ": writer %d block %u, want %u", k, w, n, next[w]);
				break;
			}
			next[w]++;
			file_hash = mix(file_hash ^ h ^ ((uint64_t)w << 56));
		}
	}
	free(data);
	printf("result: blocks=%" PRIu64 " bytes=%" PRIu64 " records=%" PRIu64 "\n", ctr->blocks, ctr->bytes, ctr->records);
	for (int i = 0; i < NCHILD; i++)
		printf("result: child %d checksum=%016" PRIx64 "\n", i, got_cs[i]);
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
