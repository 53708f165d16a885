// corpus: an app that unmapped its [vdso] and [vvar] (no time call may use them afterwards)
// expect: exact
#include "corpus.h"
#include <sys/mman.h>

/* kernel_maps counts the [vdso], [vvar] and [vvar_vclock] lines of
 * /proc/self/maps, unmapping them if unmap is set. */
static int kernel_maps(int unmap) {
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		die("open maps");
	char line[512];
	unsigned long lo[8], hi[8];
	int n = 0;
	while (fgets(line, sizeof line, f) && n < 8)
		if (strstr(line, "[vdso]") || strstr(line, "[vvar]") || strstr(line, "[vvar_vclock]"))
			if (sscanf(line, "%lx-%lx", &lo[n], &hi[n]) == 2)
				n++;
	fclose(f);
	for (int i = 0; unmap && i < n; i++)
		if (munmap((void *)lo[i], hi[i] - lo[i]))
			die("munmap");
	return n;
}

int main(void) {
	if (kernel_maps(1) == 0) {
		printf("FAIL: no [vdso] to unmap\n");
		return 1;
	}
	/* From here on no vdso call (clock_gettime, time, gettimeofday). */
	running("vdso_unmapped");
	work(NULL);
	int n = kernel_maps(0);
	if (n)
		fail("%d vdso/vvar mappings back after restore", n);
	return finish();
}
