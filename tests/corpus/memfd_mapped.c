// corpus: a memfd only mapped (every fd of it closed), shared with a forked child: still one memfd, its name, mode and seals
// expect: exact
// needs: root
#include "corpus.h"
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char *m;

/* the_line copies the /proc/PID/maps line of the mapping at m. */
static void the_line(char *out, size_t n) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	out[0] = 0;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo;
		if (sscanf(line, "%lx-", &lo) == 1 && lo == (unsigned long)m)
			snprintf(out, n, "%s", strchr(line, '/') ? strchr(line, '/') : "?");
	}
	if (f)
		fclose(f);
}

int main(void) {
	int fd = memfd_create("corpus-mapped", MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, 8192))
		die("memfd");
	m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		die("mmap");
	if (fchmod(fd, 0600) || fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK))
		die("fchmod/seal");
	close(fd);
	strcpy(m + 4096, "parent");
	int ready[2];
	if (pipe(ready))
		die("pipe");
	pid_t child = fork();
	if (child == 0) {
		/* The child writes once the parent asks (after the restore, maybe). */
		char c;
		if (read(ready[0], &c, 1) != 1)
			_exit(1);
		strcpy(m + 100, "child");
		_exit(0);
	}
	running("memfd_mapped");
	work(NULL);
	if (write(ready[1], "x", 1) != 1)
		die("write");
	int st;
	waitpid(child, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("child exited %#x", st);
	if (strcmp(m + 100, "child"))
		fail("the child's write is not in the parent's mapping: not one memfd");
	if (strcmp(m + 4096, "parent"))
		fail("content differs");
	char line[256];
	the_line(line, sizeof line);
	if (strncmp(line, "/memfd:corpus-mapped (deleted)", 30))
		fail("mapping names %s", line);
	char p[64];
	snprintf(p, sizeof p, "/proc/self/map_files/%lx-%lx", (unsigned long)m, (unsigned long)m + 8192);
	int again = open(p, O_RDONLY);
	if (again < 0)
		fail("open %s: %s", p, strerror(errno));
	else {
		struct stat s;
		if (fstat(again, &s) || (s.st_mode & 07777) != 0600)
			fail("mode %o, want 600", s.st_mode & 07777);
		int seals = fcntl(again, F_GET_SEALS);
		if (seals != (F_SEAL_GROW | F_SEAL_SHRINK))
			fail("seals %#x, want %#x", seals, F_SEAL_GROW | F_SEAL_SHRINK);
	}
	return finish();
}
