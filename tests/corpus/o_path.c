// corpus: O_PATH descriptors: on a directory, on a file, and O_PATH|O_NOFOLLOW on a dangling symlink
// expect: exact
#include "corpus.h"
#include <sys/stat.h>

/* O_PATH fds: a directory (used with openat), a regular file (fstat and
 * reopening through /proc/self/fd), and a dangling symlink opened with
 * O_NOFOLLOW (readlinkat(fd, "") still reads its target). Checked: flags
 * (O_PATH, O_NOFOLLOW, O_CLOEXEC), what each names (fstat with
 * AT_EMPTY_PATH: type and inode), and that they still work. */

static void check_fd(const char *what, int fd, mode_t type, ino_t ino, int want_flags) {
	struct stat st;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH) != 0)
		fail("%s: fstatat: %s", what, strerror(errno));
	else if ((st.st_mode & S_IFMT) != type || st.st_ino != ino)
		fail("%s: names mode %o inode %lu, want %o %lu", what, st.st_mode & S_IFMT, (unsigned long)st.st_ino, type, (unsigned long)ino);
	int fl = fcntl(fd, F_GETFL);
	if ((fl & want_flags) != want_flags)
		fail("%s: flags %#o lack %#o", what, fl, want_flags);
}

int main(void) {
	mkdir("o_path.d", 0755);
	int w = open("o_path.d/file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (w < 0 || write(w, "hello\n", 6) != 6)
		die("create o_path.d/file");
	close(w);
	unlink("o_path.d/dangling");
	if (symlink("nowhere/at/all", "o_path.d/dangling") != 0)
		die("symlink");
	int d = open("o_path.d", O_PATH | O_DIRECTORY);
	int f = open("o_path.d/file", O_PATH | O_CLOEXEC);
	int l = open("o_path.d/dangling", O_PATH | O_NOFOLLOW);
	if (d < 0 || f < 0 || l < 0)
		die("open O_PATH");
	struct stat sd, sf, sl;
	if (stat("o_path.d", &sd) || stat("o_path.d/file", &sf) || lstat("o_path.d/dangling", &sl))
		die("stat");
	running("o_path");
	work(NULL);
	check_fd("directory", d, S_IFDIR, sd.st_ino, O_PATH | O_DIRECTORY);
	check_fd("file", f, S_IFREG, sf.st_ino, O_PATH);
	check_fd("dangling symlink", l, S_IFLNK, sl.st_ino, O_PATH | O_NOFOLLOW);
	if (!(fcntl(f, F_GETFD) & FD_CLOEXEC) || (fcntl(d, F_GETFD) & FD_CLOEXEC))
		fail("close-on-exec flags differ");
	int r = openat(d, "file", O_RDONLY);
	char b[16] = {0};
	if (r < 0 || read(r, b, sizeof b) != 6 || strcmp(b, "hello\n"))
		fail("openat through the directory fd");
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", f);
	int r2 = open(path, O_RDONLY);
	if (r2 < 0 || read(r2, b, sizeof b) != 6)
		fail("reopen the file through /proc/self/fd");
	char t[64] = {0};
	if (readlinkat(l, "", t, sizeof t - 1) < 0 || strcmp(t, "nowhere/at/all"))
		fail("readlinkat on the symlink fd: %s", t);
	return finish();
}
