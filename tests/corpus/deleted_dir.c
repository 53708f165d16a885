// corpus: a deleted directory held open and a deleted working directory: mode, owner, times, "(deleted)" names
// expect: exact
#include "corpus.h"
#include <sys/stat.h>

static int same_time(struct timespec a, struct timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

static void check(const char *what, struct stat *st, struct stat *want) {
	if (st->st_mode != want->st_mode)
		fail("%s: mode %o, want %o", what, st->st_mode, want->st_mode);
	if (st->st_uid != want->st_uid || st->st_gid != want->st_gid)
		fail("%s: owner %d:%d, want %d:%d", what, st->st_uid, st->st_gid, want->st_uid, want->st_gid);
	if (st->st_nlink != want->st_nlink)
		fail("%s: nlink %ld, want %ld", what, (long)st->st_nlink, (long)want->st_nlink);
	if (!same_time(st->st_mtim, want->st_mtim))
		fail("%s: mtime differs", what);
}

static void check_link(const char *link, const char *path) {
	char got[256], want[256];
	ssize_t n = readlink(link, got, sizeof got - 1);
	got[n < 0 ? 0 : n] = 0;
	snprintf(want, sizeof want, "%s (deleted)", path);
	if (strcmp(got, want))
		fail("%s names %s, want %s", link, got, want);
}

int main(void) {
	char held[] = "/tmp/corpus-deldir-XXXXXX", cwd[] = "/tmp/corpus-delcwd-XXXXXX";
	if (!mkdtemp(held) || !mkdtemp(cwd))
		die("mkdtemp");
	int fd = open(held, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		die("open");
	if (chmod(held, 0751) || chmod(cwd, 0715))
		die("chmod");
	if (geteuid() == 0 && chown(held, 1111, 2222))
		die("chown");
	struct timespec ts[2] = {{1000000000, 5}, {1100000000, 7}};
	if (utimensat(AT_FDCWD, cwd, ts, 0) || chdir(cwd))
		die("utimensat/chdir");
	if (rmdir(held) || rmdir(cwd))
		die("rmdir");
	struct stat want_held, want_cwd;
	if (fstat(fd, &want_held) || stat(".", &want_cwd))
		die("stat");
	running("deleted_dir");
	work(NULL);
	struct stat st;
	if (fstat(fd, &st))
		die("fstat");
	check("held directory", &st, &want_held);
	if (stat(".", &st))
		die("stat .");
	check("working directory", &st, &want_cwd);
	char fdl[64];
	snprintf(fdl, sizeof fdl, "/proc/self/fd/%d", fd);
	check_link(fdl, held);
	check_link("/proc/self/cwd", cwd);
	char buf[64];
	if (getcwd(buf, sizeof buf) || errno != ENOENT)
		fail("getcwd in a deleted directory: not ENOENT");
	if (openat(fd, "x", O_CREAT | O_WRONLY, 0600) >= 0 || errno != ENOENT)
		fail("creating in the deleted directory: not ENOENT");
	return finish();
}
