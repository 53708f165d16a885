// corpus: a deleted sparse regular file held open and mapped: mode, owner, times, size, holes, content, its "(deleted)" name
// expect: exact
#include "corpus.h"
#include <sys/mman.h>
#include <sys/stat.h>

#define MB (1 << 20)

static char path[64] = "/tmp/corpus-deleted-XXXXXX";
static int fd;
static char *map;

static void step(int i) { map[i] ^= 1, map[i] ^= 1; }

int main(void) {
	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	/* Data at 0 and at 1 MiB, holes elsewhere, a hole at the end. */
	char buf[4096];
	memset(buf, 'a', sizeof buf);
	if (pwrite(fd, buf, sizeof buf, 0) != sizeof buf)
		die("pwrite");
	memset(buf, 'b', sizeof buf);
	if (pwrite(fd, buf, sizeof buf, MB) != sizeof buf)
		die("pwrite");
	if (ftruncate(fd, 3 * MB))
		die("ftruncate");
	map = mmap(NULL, 2 * MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	if (fchmod(fd, 0640))
		die("fchmod");
	if (geteuid() == 0 && fchown(fd, 4321, 8765))
		die("fchown");
	/* atime after mtime and recent: reads through the mapping do not move it. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct timespec ts[2] = {{now.tv_sec - 60, 123456789}, {now.tv_sec - 3600, 987654321}};
	if (futimens(fd, ts))
		die("futimens");
	if (unlink(path))
		die("unlink");
	struct stat want;
	if (fstat(fd, &want))
		die("fstat");
	if (lseek(fd, 12345, SEEK_SET) != 12345)
		die("lseek");
	running("deleted_file");
	work(step);
	struct stat st;
	if (fstat(fd, &st))
		die("fstat");
	if (st.st_mode != want.st_mode)
		fail("mode %o, want %o", st.st_mode, want.st_mode);
	if (st.st_uid != want.st_uid || st.st_gid != want.st_gid)
		fail("owner %d:%d, want %d:%d", st.st_uid, st.st_gid, want.st_uid, want.st_gid);
	if (st.st_size != want.st_size)
		fail("size %ld, want %ld", (long)st.st_size, (long)want.st_size);
	if (st.st_nlink != 0)
		fail("nlink %ld, want 0", (long)st.st_nlink);
	if (st.st_mtim.tv_sec != want.st_mtim.tv_sec || st.st_mtim.tv_nsec != want.st_mtim.tv_nsec)
		fail("mtime %ld.%09ld, want %ld.%09ld", st.st_mtim.tv_sec, st.st_mtim.tv_nsec, want.st_mtim.tv_sec, want.st_mtim.tv_nsec);
	if (st.st_atim.tv_sec != want.st_atim.tv_sec || st.st_atim.tv_nsec != want.st_atim.tv_nsec)
		fail("atime %ld.%09ld, want %ld.%09ld", st.st_atim.tv_sec, st.st_atim.tv_nsec, want.st_atim.tv_sec, want.st_atim.tv_nsec);
	if (st.st_blocks != want.st_blocks)
		fail("%ld blocks allocated, want %ld (holes filled?)", (long)st.st_blocks, (long)want.st_blocks);
	if (lseek(fd, 0, SEEK_CUR) != 12345)
		fail("offset %ld, want 12345", (long)lseek(fd, 0, SEEK_CUR));
	off_t h1 = lseek(fd, 0, SEEK_HOLE), d1 = lseek(fd, h1, SEEK_DATA);
	off_t h2 = lseek(fd, d1, SEEK_HOLE), d2 = lseek(fd, h2, SEEK_DATA);
	if (h1 != 4096 || d1 != MB || h2 != MB + 4096 || d2 != -1)
		fail("data/holes: hole at %ld, data at %ld, hole at %ld, data at %ld; want 4096, %d, %d, -1",
		     (long)h1, (long)d1, (long)h2, (long)d2, MB, MB + 4096);
	if (map[0] != 'a' || map[4095] != 'a' || map[4096] != 0 || map[MB] != 'b' || map[MB + 4095] != 'b' || map[MB + 4096] != 0)
		fail("content differs");
	char link[128], want_link[128];
	snprintf(want_link, sizeof want_link, "%s (deleted)", path);
	char fdl[64];
	snprintf(fdl, sizeof fdl, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(fdl, link, sizeof link - 1);
	link[n < 0 ? 0 : n] = 0;
	if (strcmp(link, want_link))
		fail("fd names %s, want %s", link, want_link);
	/* The mapping and the fd are one file. */
	map[MB + 8192] = 'z';
	char c;
	if (pread(fd, &c, 1, MB + 8192) != 1 || c != 'z')
		fail("the mapping is not the open file");
	return finish();
}
