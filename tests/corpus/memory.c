// corpus: memory — private anonymous data, a PROT_NONE guard, a region made read-only, shared anonymous memory written by a forked child, a private file mapping written to, MADV_DONTFORK
// expect: exact
#include "corpus.h"
#include <sys/mman.h>
#include <sys/wait.h>

#define MB (1 << 20)

int main(void) {
	unsigned char *priv = mmap(NULL, 8 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *ro = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile uint64_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (priv == MAP_FAILED || guard == MAP_FAILED || ro == MAP_FAILED || shared == MAP_FAILED) die("mmap");
	for (size_t i = 0; i < 8 * MB; i += 4096) priv[i] = (unsigned char)(i >> 12);
	memset(ro, 0x5a, 16384);
	mprotect(ro, 16384, PROT_READ);
	madvise(priv + 4 * MB, MB, MADV_DONTFORK);
	FILE *f = fopen("/etc/os-release", "r");
	if (!f) die("open os-release");
	int fd = fileno(f);
	char *fm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (fm == MAP_FAILED) die("mmap file");
	char first = fm[0];
	fm[1] = '#'; /* copy-on-write: not in the file */
	pid_t child = fork();
	if (child == 0) {
		for (int i = 0; i < 6000 && shared[0] != 2; i++) { shared[1]++; usleep(5000); }
		_exit(shared[0] == 2 ? 0 : 3);
	}
	running("memory");
	work(NULL);
	for (size_t i = 0; i < 8 * MB; i += 4096)
		if (priv[i] != (unsigned char)(i >> 12)) { fail("private page %zu changed", i >> 12); break; }
	for (int i = 0; i < 16384; i++)
		if (ro[i] != 0x5a) { fail("read-only byte %d changed", i); break; }
	if (fm[0] != first || fm[1] != '#') fail("private file mapping lost its written byte");
	if (shared[1] == 0) fail("the child's counter in shared memory is 0");
	uint64_t before = shared[1];
	sleep_ms(50);
	if (shared[1] == before) fail("the child's writes to shared memory are not seen any more");
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	int found_guard = 0, found_ro = 0;
	while (fgets(line, sizeof line, maps)) {
		unsigned long s, e;
		char perm[5];
		if (sscanf(line, "%lx-%lx %4s", &s, &e, perm) != 3) continue;
		if (s == (unsigned long)guard && !strcmp(perm, "---p")) found_guard = 1;
		if (s == (unsigned long)ro && !strcmp(perm, "r--p")) found_ro = 1;
	}
	fclose(maps);
	if (!found_guard) fail("the PROT_NONE guard page is gone");
	if (!found_ro) fail("the read-only region is not read-only");
	shared[0] = 2;
	int st;
	waitpid(child, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail("child ended with %#x", st);
	return finish();
}
