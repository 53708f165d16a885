// corpus: mappings /proc/PID/mem reads only in part: PROT_NONE over a file hole, a private mapping running past the end of its file (SIGBUS there), PROT_NONE anonymous memory holding data
// expect: exact
#include "corpus.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

#define PG 4096

static sigjmp_buf jb;
static volatile int sig;

static void on_fault(int s) {
	sig = s;
	siglongjmp(jb, 1);
}

/* probe reads *p and returns the signal it raised, or 0. */
static int probe(volatile char *p) {
	sig = 0;
	if (!sigsetjmp(jb, 1))
		(void)*p;
	return sig;
}

int main(void) {
	char path[] = "/tmp/corpus-edges-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	/* Page 0 data, page 1 a hole, page 2 data; the file ends after 2.5 pages. */
	char buf[PG];
	memset(buf, 'x', PG);
	if (pwrite(fd, buf, PG, 0) != PG || pwrite(fd, buf, PG / 2, 2 * PG) != PG / 2)
		die("pwrite");
	/* Five pages mapped: 3 and 4 lie past the end of the file. */
	char *m = mmap(NULL, 5 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		die("mmap");
	m[0] = 'A';		/* a private copy */
	(void)*(volatile char *)(m + 2 * PG); /* a page of the file, mapped */
	if (mprotect(m + PG, PG, PROT_NONE))  /* a guard over the hole */
		die("mprotect");
	char *anon = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (anon == MAP_FAILED)
		die("mmap anon");
	strcpy(anon, "hidden");
	strcpy(anon + PG, "visible");
	if (mprotect(anon, PG, PROT_NONE))
		die("mprotect anon");
	close(fd);
	struct sigaction sa = {.sa_handler = on_fault};
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	running("mapping_edges");
	work(NULL);
	if (m[0] != 'A' || m[2 * PG] != 'x' || m[2 * PG + PG / 2] != 0)
		fail("file mapping content differs");
	if (probe(m + PG) != SIGSEGV)
		fail("the guard page does not fault (signal %d)", sig);
	if (probe(m + 4 * PG) != SIGBUS)
		fail("past the end of the file: signal %d, want SIGBUS", sig);
	if (probe(anon) != SIGSEGV)
		fail("PROT_NONE anonymous page readable (signal %d)", sig);
	if (mprotect(anon, PG, PROT_READ) || strcmp(anon, "hidden") || strcmp(anon + PG, "visible"))
		fail("PROT_NONE anonymous page lost its data");
	unlink(path);
	return finish();
}
