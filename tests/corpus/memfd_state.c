// corpus: memfds: status flags and access mode of each description, offsets, mode, seals (MFD_NOEXEC_SEAL), shmem file system
// expect: exact
#include "corpus.h"
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

static int fl(int fd) { return fcntl(fd, F_GETFL) & ~O_LARGEFILE; }

int main(void) {
	int a = memfd_create("corpus-a", MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (a < 0)
		a = memfd_create("corpus-a", MFD_ALLOW_SEALING); /* before Linux 6.3 */
	if (a < 0)
		die("memfd_create");
	if (write(a, "memfd-a", 7) != 7)
		die("write");
	if (fchmod(a, 0640))
		die("fchmod");
	if (fcntl(a, F_ADD_SEALS, F_SEAL_SHRINK))
		die("F_ADD_SEALS");
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", a);
	int ro = open(p, O_RDONLY);
	if (ro < 0)
		die("reopen read-only");
	if (fcntl(a, F_SETFL, O_NONBLOCK | O_APPEND))
		die("F_SETFL");
	struct stat wa;
	if (fstat(a, &wa))
		die("fstat");
	if (lseek(ro, 3, SEEK_SET) != 3)
		die("lseek");
	int want_fa = fl(a), want_fro = fl(ro), want_seals = fcntl(a, F_GET_SEALS);
	running("memfd_state");
	work(NULL);
	if (fl(a) != want_fa)
		fail("flags of the first fd %o, want %o", fl(a), want_fa);
	if (fl(ro) != want_fro)
		fail("flags of the read-only fd %o, want %o", fl(ro), want_fro);
	if (fcntl(a, F_GET_SEALS) != want_seals)
		fail("seals %#x, want %#x", fcntl(a, F_GET_SEALS), want_seals);
	struct stat st;
	if (fstat(a, &st))
		die("fstat");
	if (st.st_mode != wa.st_mode || st.st_uid != wa.st_uid || st.st_gid != wa.st_gid || st.st_size != 7)
		fail("memfd a: mode %o owner %d:%d size %ld, want %o %d:%d 7", st.st_mode, st.st_uid, st.st_gid,
		     (long)st.st_size, wa.st_mode, wa.st_uid, wa.st_gid);
	struct stat sro;
	if (fstat(ro, &sro) || sro.st_ino != st.st_ino)
		fail("the read-only fd is not the same memfd");
	struct statfs sf;
	if (fstatfs(a, &sf) || sf.f_type != TMPFS_MAGIC)
		fail("memfd a not on shmem (f_type %#lx)", (long)sf.f_type);
	char buf[16] = {0};
	if (pread(ro, buf, 7, 0) != 7 || strcmp(buf, "memfd-a"))
		fail("content of a \"%s\"", buf);
	if (lseek(ro, 0, SEEK_CUR) != 3 || lseek(a, 0, SEEK_CUR) != 7)
		fail("offsets %ld and %ld, want 3 and 7", (long)lseek(ro, 0, SEEK_CUR), (long)lseek(a, 0, SEEK_CUR));
	return finish();
}
