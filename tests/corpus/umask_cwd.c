// corpus: umask, working directory and resource limits of one process
// expect: exact
#include "corpus.h"
#include <sys/resource.h>
#include <sys/stat.h>

int main(void) {
	char dir[] = "/tmp/corpus-cwd-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	if (chdir(dir))
		die("chdir");
	umask(0027);
	struct rlimit lim = {1000, 2000};
	if (setrlimit(RLIMIT_NOFILE, &lim))
		die("setrlimit");
	running("umask_cwd");
	work(NULL);
	char cwd[256];
	if (!getcwd(cwd, sizeof cwd) || strcmp(cwd, dir))
		fail("cwd %s, want %s", cwd, dir);
	mode_t m = umask(0);
	if (m != 0027)
		fail("umask %03o, want 027", m);
	if (getrlimit(RLIMIT_NOFILE, &lim) || lim.rlim_cur != 1000 || lim.rlim_max != 2000)
		fail("RLIMIT_NOFILE %ld/%ld, want 1000/2000", (long)lim.rlim_cur, (long)lim.rlim_max);
	rmdir(dir);
	return finish();
}
