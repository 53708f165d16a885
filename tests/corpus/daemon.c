// corpus: a daemon whose main process has exited (double fork: the orphan lives under crrun's init, its session's leader gone)
// expect: exact
/* daemon [double|bg] [exit]: the app's main process is gone when the
 * checkpoint lands, and the rest of the app runs on under crrun's init.
 *   double (the default): main forks a session leader that forks the
 *          daemon and exits; main waits for it, then ends with <exit>
 *          (a code, or -SIG to be killed by SIG; default 0).
 *   zombie: main forks the daemon and exits <exit> 0.3 s later; the
 *          daemon goes on as soon as it is an orphan, whether crrun's init
 *          has reaped the main process yet or not (a test stops the init).
 *   bg:    this process is `cmd &` of a shell that has exited (sh -c
 *          './daemon bg $$ & exit 3', <exit> is then the shell's pid): it
 *          stays in the shell's process group.
 * The daemon says "daemon: running" once the main process is gone (reaped
 * by crrun's init), keeps a counter, a pipe holding bytes, a file offset and
 * its ids, and checks them all after ~1.5 s. */
#include "corpus.h"
#include <signal.h>
#include <sys/wait.h>

static int fds[2], file;
static volatile long counter;

static void step(int i) {
	counter += i;
}

static int gone(pid_t p) { return kill(p, 0) < 0 && errno == ESRCH; }

static int reaped = 1; /* wait for the main process to be reaped, not only gone */

static int daemon_main(pid_t main_pid) {
	/* Wait for the main process to be reaped by crrun's init. */
	for (int i = 0; i < 500 && (getppid() != 1 || (reaped && !gone(main_pid))); i++)
		sleep_ms(10);
	if (getppid() != 1 || (reaped && !gone(main_pid))) {
		printf("FAIL: the main process %d is not gone (ppid %d)\n", main_pid, getppid());
		return 1;
	}
	pid_t pid = getpid(), pgid = getpgrp(), sid = getsid(0);
	if (pipe(fds) < 0)
		die("pipe");
	if (write(fds[1], "daemon-bytes", 12) != 12)
		die("write");
	char path[] = "/tmp/crrun-daemon-XXXXXX";
	file = mkstemp(path);
	if (file < 0)
		die("mkstemp");
	unlink(path);
	if (write(file, "0123456789", 10) != 10 || lseek(file, 4, SEEK_SET) != 4)
		die("file");
	running("daemon");
	work(step);
	if (counter != 149L * 150 / 2)
		fail("counter %ld", counter);
	if (getpid() != pid || getpgrp() != pgid || getsid(0) != sid)
		fail("ids pid %d pgid %d sid %d, were %d %d %d", getpid(), getpgrp(), getsid(0), pid, pgid, sid);
	if (getppid() != 1)
		fail("parent %d, not crrun's init", getppid());
	if (reaped && !gone(main_pid))
		fail("the main process %d exists again", main_pid);
	char buf[16] = {0};
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	if (read(fds[0], buf, sizeof buf) != 12 || memcmp(buf, "daemon-bytes", 12))
		fail("pipe holds %.12s", buf);
	if (lseek(file, 0, SEEK_CUR) != 4)
		fail("file offset %ld", (long)lseek(file, 0, SEEK_CUR));
	return finish();
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "double";
	int ex = argc > 2 ? atoi(argv[2]) : 0;
	if (!strcmp(mode, "bg"))
		return daemon_main(ex); /* the shell that started us */
	pid_t main_pid = getpid();
	if (!strcmp(mode, "zombie")) {
		reaped = 0;
		pid_t d = fork();
		if (d < 0)
			die("fork");
		if (d == 0)
			exit(daemon_main(main_pid));
		sleep_ms(300);
		return ex;
	}
	pid_t leader = fork();
	if (leader < 0)
		die("fork");
	if (leader == 0) {
		if (setsid() < 0)
			die("setsid");
		pid_t d = fork();
		if (d < 0)
			die("fork");
		if (d == 0)
			exit(daemon_main(main_pid));
		_exit(0);
	}
	int st;
	if (waitpid(leader, &st, 0) != leader || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("FAIL: the session leader ended with %#x\n", st);
		return 1;
	}
	if (ex < 0) {
		signal(-ex, SIG_DFL);
		kill(getpid(), -ex);
	}
	return ex;
}
