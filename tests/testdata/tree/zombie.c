/* zombie: zombies, sessions and process groups across a checkpoint.
 *   zombie [STEPS]
 * Before the checkpoint window opens the program has four children:
 *   A  exited with code 42 at once: a zombie, not reaped;
 *   B  killed by SIGTERM: a zombie, not reaped;
 *   C  called setsid() (session and group leader, like a daemon), waits;
 *   E  in a process group of its own (setpgid(0,0)), waits.
 * Both zombies are confirmed with waitid(WNOWAIT) and /proc state Z. Then it
 * computes for STEPS steps of 100 ms (default 30: ~3 s, stderr "zombie:
 * running"). Afterwards: both are still zombies; waitpid(A) returns A's pid
 * from fork() with exit status 42, waitpid(B) B's with WIFSIGNALED SIGTERM;
 * getpgid/getsid of C, E and itself are what they were; C and E, woken by
 * SIGUSR1, check their own pgid, sid and parent and exit 0; then no child is
 * left (ECHILD).
 *
 * stdout (deterministic): a header, progress lines, result lines, then exactly
 * "PASS" or "FAIL: <what>". stderr: "zombie: pid=N", "zombie: running",
 * "zombie: end pid=N". */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "victim.h"

// proc_state is the state letter of /proc/PID/stat ('?' if unreadable).
static char proc_state(pid_t pid) {
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static volatile sig_atomic_t woken;
static void on_usr1(int s) { (void)s; woken = 1; }

// waiter is C and E: block until SIGUSR1, then check pgid, sid and parent.
static void waiter(int leader_of_session, pid_t parent, pid_t parent_sid) {
	sigset_t all, old;
	sigemptyset(&all);
	sigaddset(&all, SIGUSR1);
	sigprocmask(SIG_BLOCK, &all, &old);
	struct sigaction sa = {.sa_handler = on_usr1};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	if (leader_of_session) {
		if (setsid() < 0)
			_exit(20);
	} else if (setpgid(0, 0) != 0)
		_exit(21);
	while (!woken)
		sigsuspend(&old);
	pid_t me = getpid();
	if (getpgid(0) != me)
		_exit(10);
	if (getsid(0) != (leader_of_session ? me : parent_sid))
		_exit(11);
	if (getppid() != parent)
		_exit(12);
	_exit(0);
}

static void wait_until(const char *what, pid_t pid, int (*cond)(pid_t)) {
	for (int i = 0; i < 5000 && !cond(pid); i++)
		sleep_ms(1);
	if (!cond(pid)) {
		printf("FAIL: %s (pid %d) never happened\n", what, (int)pid);
		exit(1);
	}
}
static int is_session_leader(pid_t p) { return getsid(p) == p; }
static int is_group_leader(pid_t p) { return getpgid(p) == p; }

int main(int argc, char **argv) {
	int steps = argc > 1 ? atoi(argv[1]) : 30;
	if (steps <= 0)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t me = getpid(), my_pgid = getpgid(0), my_sid = getsid(0);
	fprintf(stderr, "zombie: pid=%d\n", (int)me);
	printf("zombie: children A (exit 42), B (SIGTERM), C (setsid), E (setpgid); steps=%d\n", steps);

	pid_t a = fork();
	if (a < 0)
		die("fork A");
	if (a == 0)
		_exit(42);
	pid_t b = fork();
	if (b < 0)
		die("fork B");
	if (b == 0) {
		for (;;)
			pause();
	}
	pid_t c = fork();
	if (c < 0)
		die("fork C");
	if (c == 0)
		waiter(1, me, my_sid);
	pid_t e = fork();
	if (e < 0)
		die("fork E");
	if (e == 0)
		waiter(0, me, my_sid);
	setpgid(e, e); // both sides, as shells do (EACCES/ESRCH races are harmless)
	if (kill(b, SIGTERM) != 0)
		die("kill B");

	// A and B are zombies: waitid(WNOWAIT) sees them without reaping.
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)a, &si, WEXITED | WNOWAIT) != 0)
		die("waitid A");
	if (si.si_pid != a || si.si_code != CLD_EXITED || si.si_status != 42)
		fail("waitid(WNOWAIT) of A: pid %d code %d status %d", (int)si.si_pid, si.si_code, si.si_status);
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)b, &si, WEXITED | WNOWAIT) != 0)
		die("waitid B");
	if (si.si_pid != b || si.si_code != CLD_KILLED || si.si_status != SIGTERM)
		fail("waitid(WNOWAIT) of B: pid %d code %d status %d", (int)si.si_pid, si.si_code, si.si_status);
	if (proc_state(a) != 'Z' || proc_state(b) != 'Z')
		fail("A and B are in state %c and %c, want Z", proc_state(a), proc_state(b));
	wait_until("C's setsid()", c, is_session_leader);
	wait_until("E's setpgid()", e, is_group_leader);
	pid_t c_pgid = getpgid(c), c_sid = getsid(c), e_pgid = getpgid(e), e_sid = getsid(e);
	if (c_pgid != c || c_sid != c)
		fail("C: pgid %d sid %d, want %d %d", (int)c_pgid, (int)c_sid, (int)c, (int)c);
	if (e_pgid != e || e_sid != my_sid)
		fail("E: pgid %d sid %d, want %d %d", (int)e_pgid, (int)e_sid, (int)e, (int)my_sid);
	printf("zombies: A %c, B %c; C is a session leader; E a group leader\n", proc_state(a), proc_state(b));

	fprintf(stderr, "zombie: running\n");
	uint64_t acc = 0;
	for (int s = 0; s < steps; s++) {
		for (int i = 0; i < 20000; i++)
			acc = mix(acc ^ (uint64_t)(s * 20000 + i));
		if ((s + 1) % 5 == 0)
			printf("step %d/%d acc=%016" PRIx64 "\n", s + 1, steps, acc);
		sleep_ms(100);
	}
	fprintf(stderr, "zombie: end pid=%d\n", (int)getpid());

	if (getpid() != me)
		fail("getpid() is %d, was %d", (int)getpid(), (int)me);
	if (getpgid(0) != my_pgid || getsid(0) != my_sid)
		fail("own pgid/sid %d/%d, was %d/%d", (int)getpgid(0), (int)getsid(0), (int)my_pgid, (int)my_sid);
	if (getpgid(c) != c_pgid || getsid(c) != c_sid)
		fail("C's pgid/sid %d/%d, was %d/%d", (int)getpgid(c), (int)getsid(c), (int)c_pgid, (int)c_sid);
	if (getpgid(e) != e_pgid || getsid(e) != e_sid)
		fail("E's pgid/sid %d/%d, was %d/%d", (int)getpgid(e), (int)getsid(e), (int)e_pgid, (int)e_sid);
	char sa = proc_state(a), sb = proc_state(b);
	if (sa != 'Z' || sb != 'Z')
		fail("after the computation A and B are in state %c and %c, want Z", sa, sb);
	int st = 0;
	pid_t w = waitpid(a, &st, 0);
	if (w != a)
		fail("waitpid(A=%d) returned %d (%s)", (int)a, (int)w, w < 0 ? strerror(errno) : "");
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 42)
		fail("A's status %#x, want exit 42", st);
	w = waitpid(b, &st, 0);
	if (w != b)
		fail("waitpid(B=%d) returned %d (%s)", (int)b, (int)w, w < 0 ? strerror(errno) : "");
	else if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
		fail("B's status %#x, want killed by SIGTERM", st);
	pid_t waiters[2] = {c, e};
	const char *names[2] = {"C", "E"};
	for (int k = 0; k < 2; k++) {
		if (kill(waiters[k], SIGUSR1) != 0) {
			fail("kill(%s, SIGUSR1): %s", names[k], strerror(errno));
			continue;
		}
		w = waitpid(waiters[k], &st, 0);
		if (w != waiters[k])
			fail("waitpid(%s=%d) returned %d (%s)", names[k], (int)waiters[k], (int)w, w < 0 ? strerror(errno) : "");
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail("%s's status %#x, want exit 0 (10: pgid, 11: sid, 12: parent wrong)", names[k], st);
	}
	w = waitpid(-1, &st, WNOHANG);
	if (w != -1 || errno != ECHILD)
		fail("waitpid(-1) returned %d, want ECHILD: a child too many", (int)w);
	printf("result: acc=%016" PRIx64 " A=%c/42 B=%c/SIGTERM\n", acc, sa, sb);
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
