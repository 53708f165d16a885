// corpus: copy-on-write sharing between a parent and its forked child (32 MiB, the child wrote 1%): still shared after restore
// expect: exact
#include "corpus.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define SIZE (32L << 20)
#define PG 4096L

static unsigned char *m;

/* sharing reads the Shared_Dirty and Private_Dirty kB of the mapping at m. */
static void sharing(long *shared, long *private) {
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		die("smaps");
	char line[512];
	int in = 0;
	*shared = *private = -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo;
		if (sscanf(line, "%lx-", &lo) == 1 && strchr(line, ' ') && line[strcspn(line, " ") - 1] != ':') {
			in = lo == (unsigned long)m;
			continue;
		}
		if (in && !strncmp(line, "Shared_Dirty:", 13))
			*shared = atol(line + 13);
		if (in && !strncmp(line, "Private_Dirty:", 14))
			*private = atol(line + 14);
	}
	fclose(f);
}

int main(void) {
	m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die("mmap");
	for (long i = 0; i < SIZE; i += PG)
		m[i] = (unsigned char)(i / PG + 1);
	int go[2], ready[2];
	if (pipe(go) || pipe(ready))
		die("pipe");
	pid_t child = fork();
	if (child == 0) {
		for (long i = 0; i < SIZE; i += 100 * PG)
			m[i] = 0xee;
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		for (long i = 0; i < SIZE; i += PG)
			if (m[i] != (i % (100 * PG) ? (unsigned char)(i / PG + 1) : 0xee))
				_exit(2);
		_exit(0);
	}
	char c;
	if (read(ready[0], &c, 1) != 1)
		die("read");
	long sh0, pr0;
	sharing(&sh0, &pr0);
	running("cow_fork");
	work(NULL);
	long sh, pr;
	sharing(&sh, &pr);
	/* 99% of 32 MiB shared with the child, 1% (the pages it wrote) the parent's own. */
	if (sh < 32 * 1024 * 98 / 100 || sh < sh0 - 64)
		fail("%ld kB shared with the child (before: %ld kB), %ld kB private (before: %ld kB)", sh, sh0, pr, pr0);
	if (write(go[1], "g", 1) != 1)
		die("write");
	int st;
	waitpid(child, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("child exited %#x (its memory differs)", st);
	for (long i = 0; i < SIZE; i += PG)
		if (m[i] != (unsigned char)(i / PG + 1)) {
			fail("parent page %ld differs", i / PG);
			break;
		}
	return finish();
}
