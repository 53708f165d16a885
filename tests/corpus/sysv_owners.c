// corpus: SysV objects created by a process that changed its ids (creator uid/gid 65534) and given to another owner (IPC_SET uid 1, gid 2): creator, owner and mode kept
// expect: exact
// needs: root
#include "corpus.h"
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

static long sum;
static void step(int i) { sum += i; }

int main(void) {
	int ids[3], pfd[2];
	if (pipe(pfd) < 0)
		die("pipe");
	pid_t c = fork();
	if (c == 0) { // the creator: another uid and gid
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(1);
		ids[0] = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0604);
		ids[1] = semget(IPC_PRIVATE, 1, IPC_CREAT | 0640);
		ids[2] = msgget(IPC_PRIVATE, IPC_CREAT | 0660);
		if (write(pfd[1], ids, sizeof ids) != sizeof ids)
			_exit(2);
		_exit(0);
	}
	int st;
	if (read(pfd[0], ids, sizeof ids) != sizeof ids || waitpid(c, &st, 0) != c || st != 0 || ids[0] < 0 || ids[1] < 0 || ids[2] < 0)
		die("creator");
	struct shmid_ds sd;
	if (shmctl(ids[0], IPC_STAT, &sd) < 0)
		die("shm IPC_STAT");
	sd.shm_perm.uid = 1, sd.shm_perm.gid = 2;
	if (shmctl(ids[0], IPC_SET, &sd) < 0)
		die("shm IPC_SET");
	running("sysv_owners");
	work(step);
	if (shmctl(ids[0], IPC_STAT, &sd) < 0 || sd.shm_perm.uid != 1 || sd.shm_perm.gid != 2 || sd.shm_perm.cuid != 65534 ||
	    sd.shm_perm.cgid != 65534 || (sd.shm_perm.mode & 0777) != 0604)
		fail("segment: uid %d gid %d cuid %d cgid %d mode %o", sd.shm_perm.uid, sd.shm_perm.gid, sd.shm_perm.cuid, sd.shm_perm.cgid, sd.shm_perm.mode);
	struct semid_ds ss;
	if (semctl(ids[1], 0, IPC_STAT, &ss) < 0 || ss.sem_perm.uid != 65534 || ss.sem_perm.cuid != 65534 || (ss.sem_perm.mode & 0777) != 0640)
		fail("semaphores: uid %d cuid %d mode %o", ss.sem_perm.uid, ss.sem_perm.cuid, ss.sem_perm.mode);
	struct msqid_ds ms;
	if (msgctl(ids[2], IPC_STAT, &ms) < 0 || ms.msg_perm.uid != 65534 || ms.msg_perm.cgid != 65534 || (ms.msg_perm.mode & 0777) != 0660)
		fail("queue: uid %d cgid %d mode %o", ms.msg_perm.uid, ms.msg_perm.cgid, ms.msg_perm.mode);
	if (sum != 149L * 150 / 2)
		fail("sum %ld", sum);
	shmctl(ids[0], IPC_RMID, NULL);
	semctl(ids[1], 0, IPC_RMID);
	msgctl(ids[2], IPC_RMID, NULL);
	return finish();
}
