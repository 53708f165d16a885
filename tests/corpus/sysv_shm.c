// corpus: SysV shared memory in the app's own IPC namespace: a keyed segment shared by a parent and its child (one object after restore: a write by one is seen by the other), a private segment attached read-only, one marked for removal while attached; ids, keys, modes, sizes, attach counts and contents checked
// expect: exact
#include "corpus.h"
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>

#define SIZE (3 * 4096 + 100)
#define KEY 0x5eed1234

static int id, id2, id3;
static unsigned char *p, *ro, *rm;
static long sum;

static uint32_t checksum(const unsigned char *b, size_t n) {
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static void step(int i) {
	sum += i;
	p[4096 + i] = (unsigned char)(i * 7); // the parent writes, the child checks at the end
}

int main(void) {
	id = shmget(KEY, SIZE, IPC_CREAT | IPC_EXCL | 0640);
	if (id < 0)
		die("shmget(KEY)");
	p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		die("shmat");
	for (int i = 0; i < SIZE; i++)
		p[i] = (unsigned char)(i * 31 + 7);
	id2 = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
	if (id2 < 0)
		die("shmget(IPC_PRIVATE)");
	unsigned char *w = shmat(id2, NULL, 0);
	if (w == (void *)-1)
		die("shmat id2");
	memset(w, 0xab, 8192);
	w[100] = 1;
	shmdt(w);
	ro = shmat(id2, NULL, SHM_RDONLY);
	if (ro == (void *)-1)
		die("shmat id2 ro");
	id3 = shmget(0x5eed9999, 4096, IPC_CREAT | 0600);
	if (id3 < 0)
		die("shmget id3");
	rm = shmat(id3, NULL, 0);
	if (rm == (void *)-1)
		die("shmat id3");
	strcpy((char *)rm, "removed but attached");
	if (shmctl(id3, IPC_RMID, NULL) < 0)
		die("IPC_RMID");
	uint32_t head = checksum(p, 4096);
	int pipefd[2];
	if (pipe(pipefd) < 0)
		die("pipe");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(pipefd[1]);
		char c;
		if (read(pipefd[0], &c, 1) != 1) // the parent's work is done
			_exit(2);
		int bad = 0;
		for (int i = 0; i < 150; i++)
			if (p[4096 + i] != (unsigned char)(i * 7))
				bad++;
		if (checksum(p, 4096) != head)
			bad++;
		p[SIZE - 1] = 0x42; // seen by the parent
		_exit(bad ? 1 : 0);
	}
	close(pipefd[0]);
	running("sysv_shm");
	work(step);
	if (write(pipefd[1], "x", 1) != 1)
		die("write");
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("child saw the parent's writes wrong (status %#x)", st);
	if (p[SIZE - 1] != 0x42)
		fail("the child's write is not seen by the parent: the segment is not shared");
	struct shmid_ds ds;
	if (shmget(KEY, 0, 0) != id)
		fail("key %#x gives id %d, not %d", KEY, shmget(KEY, 0, 0), id);
	if (shmctl(id, IPC_STAT, &ds) < 0)
		fail("IPC_STAT: %s", strerror(errno));
	else {
		if (ds.shm_segsz != SIZE || (ds.shm_perm.mode & 0777) != 0640 || ds.shm_perm.__key != KEY)
			fail("segment: size %zu mode %o key %#x", ds.shm_segsz, ds.shm_perm.mode, ds.shm_perm.__key);
		if (ds.shm_nattch != 1)
			fail("nattch %lu, want 1", (unsigned long)ds.shm_nattch);
		if (ds.shm_perm.uid != getuid() || ds.shm_perm.cuid != getuid())
			fail("owner %d creator %d", ds.shm_perm.uid, ds.shm_perm.cuid);
	}
	if (checksum(p, 4096) != head)
		fail("first page changed");
	for (int i = 2 * 4096; i < SIZE - 1; i++)
		if (p[i] != (unsigned char)(i * 31 + 7)) {
			fail("byte %d is %d", i, p[i]);
			break;
		}
	if (ro[100] != 1 || ro[0] != 0xab || ro[8191] != 0xab)
		fail("read-only attachment content");
	if (shmctl(id2, IPC_STAT, &ds) < 0 || ds.shm_nattch != 1 || ds.shm_segsz != 8192 || ds.shm_perm.__key != IPC_PRIVATE)
		fail("private segment: %s nattch %lu", strerror(errno), (unsigned long)ds.shm_nattch);
	if (strcmp((char *)rm, "removed but attached"))
		fail("removed segment content");
	if (shmctl(id3, IPC_STAT, &ds) < 0 || !(ds.shm_perm.mode & SHM_DEST) || ds.shm_nattch != 1)
		fail("removed segment: %s mode %o nattch %lu", strerror(errno), ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
	if (shmget(0x5eed9999, 0, 0) >= 0)
		fail("the removed segment's key finds a segment");
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	shmdt(p);
	shmdt(ro);
	shmdt(rm);
	shmctl(id, IPC_RMID, NULL);
	shmctl(id2, IPC_RMID, NULL);
	return finish();
}
