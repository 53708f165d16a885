/* cow: a parent with 256 MiB of private anonymous memory forks a child that
 * writes 1% of it: the rest is shared copy-on-write. Both report the tree's
 * memory (smaps_rollup Rss and Pss of the two, in kB) on stderr before and
 * after ~2 s of work (a checkpoint and restore lands in there), then check
 * the content; the parent prints PASS or FAIL as the last stdout line. */
#include "../../corpus/corpus.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define SIZE (256L << 20)
#define PG 4096L

static long field(int pid, const char *key) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	char v[64];
	if (status_field(path, key, v, sizeof v))
		return -1;
	return atol(v);
}

static void report(const char *when, pid_t child) {
	long rss = field(getpid(), "Rss") + field(child, "Rss");
	long pss = field(getpid(), "Pss") + field(child, "Pss");
	fprintf(stderr, "cow: %s rss_kb=%ld pss_kb=%ld\n", when, rss, pss);
}

int main(void) {
	unsigned char *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die("mmap");
	for (long i = 0; i < SIZE; i += PG)
		m[i] = (unsigned char)(i / PG * 7 + 1);
	int go[2];
	if (pipe(go))
		die("pipe");
	pid_t child = fork();
	if (child == 0) {
		for (long i = 0; i < SIZE; i += 100 * PG) /* 1% of the pages */
			m[i] = 0xee;
		char c;
		if (read(go[0], &c, 1) != 1) /* wait for the end */
			_exit(1);
		for (long i = 0; i < SIZE; i += PG)
			if (m[i] != (i % (100 * PG) ? (unsigned char)(i / PG * 7 + 1) : 0xee))
				_exit(2);
		_exit(0);
	}
	sleep_ms(300); /* the child has written its 1% */
	report("before", child);
	running("cow");
	for (int i = 0; i < 200; i++)
		sleep_ms(10);
	report("after", child);
	if (write(go[1], "x", 1) != 1)
		die("write");
	int st;
	waitpid(child, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("child exited %#x (its memory differs)", st);
	for (long i = 0; i < SIZE; i += PG)
		if (m[i] != (unsigned char)(i / PG * 7 + 1)) {
			fail("parent page %ld differs", i / PG);
			break;
		}
	return finish();
}
