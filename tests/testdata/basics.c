/* basics: small behaviours crrun must pass through untouched.
 *   basics exit N        exit with N
 *   basics raise SIG     kill itself with SIG
 *   basics pid           print getpid() and what /proc/self points to
 *   basics env           print cwd, umask, RLIMIT_NOFILE, $CRRUN_TEST_VAR, ignored signals
 *   basics signals       print READY, then each signal received; exit 0 after SIGTERM
 *   basics daemon FILE   fork a setsid() child that writes FILE after 1 s; exit 0 at once
 *   basics tty           report the terminal, then print each SIGINT/SIGWINCH (with size); exit after 2 SIGINTs
 *   basics rawtty        put the terminal in raw mode, print READY, then for each key whether it is still raw (and each SIGWINCH's size); "q" ends
 *   basics cat           copy stdin to stdout, then "bye" to stderr
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t last;
static void on(int s) { last = s; }

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2) return 2;
	const char *m = argv[1];
	if (!strcmp(m, "exit")) return atoi(argv[2]);
	if (!strcmp(m, "raise")) { signal(atoi(argv[2]), SIG_DFL); kill(getpid(), atoi(argv[2])); pause(); return 99; }
	if (!strcmp(m, "pid")) {
		char buf[64] = {0};
		readlink("/proc/self", buf, sizeof buf - 1);
		printf("getpid=%d proc_self=%s\n", getpid(), buf);
		return 0;
	}
	if (!strcmp(m, "env")) {
		char cwd[4096]; struct rlimit r; mode_t u = umask(0); umask(u);
		getrlimit(RLIMIT_NOFILE, &r);
		printf("cwd=%s\numask=%04o\nnofile=%llu/%llu\nvar=%s\n", getcwd(cwd, sizeof cwd), u,
		       (unsigned long long)r.rlim_cur, (unsigned long long)r.rlim_max, getenv("CRRUN_TEST_VAR"));
		struct sigaction sa; sigaction(SIGHUP, NULL, &sa);
		printf("sighup_ignored=%d\n", sa.sa_handler == SIG_IGN);
		return 0;
	}
	if (!strcmp(m, "signals")) {
		int sigs[] = {SIGUSR2, SIGTERM, SIGHUP, SIGINT, SIGWINCH, SIGQUIT, SIGCONT, SIGALRM};
		/* Blocked but inside sigsuspend: a signal that arrives while the
		 * last one is printed waits for the next sigsuspend (with pause()
		 * its handler would run before pause() and the wake-up be lost). */
		sigset_t block, wait;
		sigemptyset(&block);
		for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], on), sigaddset(&block, sigs[i]);
		sigprocmask(SIG_BLOCK, &block, &wait);
		printf("READY\n");
		for (;;) {
			sigsuspend(&wait);
			int s = last; last = 0;
			if (s) printf("got %s\n", sigabbrev_np(s));
			if (s == SIGTERM) return 0;
		}
	}
	if (!strcmp(m, "daemon")) {
		pid_t p = fork();
		if (p == 0) {
			setsid();
			if (fork() == 0) { sleep(1); FILE *f = fopen(argv[2], "w"); fprintf(f, "daemon was here\n"); fclose(f); _exit(0); }
			_exit(0);
		}
		printf("parent exits\n");
		return 0;
	}
	if (!strcmp(m, "tty")) {
		struct winsize ws = {0};
		ioctl(0, TIOCGWINSZ, &ws);
		printf("isatty=%d%d fg=%d rows=%d cols=%d\n", isatty(0), isatty(1), tcgetpgrp(0) == getpgrp(), ws.ws_row, ws.ws_col);
		signal(SIGINT, on); signal(SIGWINCH, on);
		sigset_t block, wait; /* as in "signals": no wake-up lost before the wait */
		sigemptyset(&block), sigaddset(&block, SIGINT), sigaddset(&block, SIGWINCH);
		sigprocmask(SIG_BLOCK, &block, &wait);
		printf("READY\n");
		int ints = 0;
		while (ints < 2) {
			sigsuspend(&wait);
			int s = last; last = 0;
			if (s == SIGINT) { ints++; printf("got INT\n"); }
			if (s == SIGWINCH) { ioctl(0, TIOCGWINSZ, &ws); printf("got WINCH %dx%d\n", ws.ws_row, ws.ws_col); }
		}
		return 0;
	}
	if (!strcmp(m, "rawtty")) { /* the terminal in raw mode; each key: is it still? "q" ends */
		struct termios orig, raw, now;
		struct winsize ws = {0};
		if (tcgetattr(0, &orig)) return 3;
		raw = orig;
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1, raw.c_cc[VTIME] = 0;
		if (tcsetattr(0, TCSANOW, &raw)) return 3;
		struct sigaction sa = {.sa_handler = on};
		sigaction(SIGWINCH, &sa, NULL);
		/* SIGWINCH blocked but inside ppoll: one that comes before the
		 * wait (a restore sends it as the app is let go) is not lost */
		sigset_t block, wait;
		sigemptyset(&block), sigaddset(&block, SIGWINCH);
		sigprocmask(SIG_BLOCK, &block, &wait);
		printf("READY\n");
		for (;;) {
			struct pollfd pin = {.fd = 0, .events = POLLIN};
			int pr = ppoll(&pin, 1, NULL, &wait);
			if (last == SIGWINCH) { last = 0; ioctl(0, TIOCGWINSZ, &ws); printf("got WINCH %dx%d\n", ws.ws_row, ws.ws_col); }
			if (pr < 0) { if (errno == EINTR) continue; return 4; }
			char c;
			if (read(0, &c, 1) != 1) return 4;
			tcgetattr(0, &now);
			printf("key %c %s\n", c, !(now.c_lflag & (ICANON | ECHO)) && now.c_cc[VMIN] == 1 ? "raw" : "cooked");
			if (c == 'q') break;
		}
		tcsetattr(0, TCSANOW, &orig);
		return 0;
	}
	if (!strcmp(m, "cat")) {
		char buf[4096]; ssize_t n;
		while ((n = read(0, buf, sizeof buf)) > 0) write(1, buf, n);
		fprintf(stderr, "bye\n");
		return 0;
	}
	return 2;
}
