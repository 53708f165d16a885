// corpus: mlockall(MCL_CURRENT|MCL_FUTURE): the flag that locks future mappings is shown by nothing, so crrun refuses (before: a restored process locked none of its new mappings)
// expect: refuse mlockall(MCL_FUTURE)
// needs: root
#include "corpus.h"
#include <sys/mman.h>
int main(void) {
	if (mlockall(MCL_CURRENT | MCL_FUTURE)) die("mlockall");
	running("refuse_mlockall"); work(NULL);
	char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FILE *f = fopen("/proc/self/smaps", "r"); char line[256]; unsigned long a = 0; int in = 0, locked = 0;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%lx-", &a) == 1 && strchr(line, '-') && strchr(line, ' ')) in = (a == (unsigned long)p);
		if (in && !strncmp(line, "VmFlags:", 8)) locked = strstr(line, " lo") != NULL;
	}
	if (!locked) fail("a mapping made after the restore is not locked (MCL_FUTURE lost)");
	return finish();
}
