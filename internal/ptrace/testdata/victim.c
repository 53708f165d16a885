// Victim programs for the ptrace package tests, one per mode (argv[1]).
// Each prints "ready ..." when set up and checks its own state.
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXT 64
static volatile unsigned long counters[MAXT];
static volatile unsigned long churned;

static void say(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void *spinner(void *arg) {
	long i = (long)arg;
	for (;;) {
		counters[i]++;
		if ((counters[i] & 0xfffff) == 0) {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void *sleeper(void *arg) {
	long i = (long)arg;
	for (;;) {
		counters[i]++;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static void *waiter(void *arg) {
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;)
		pthread_cond_wait(&cv, &mu);
	return NULL;
}

static void *shortlived(void *arg) { return arg; }

static void *churn(void *arg) {
	(void)arg;
	for (;;) {
		pthread_t t;
		int e = pthread_create(&t, NULL, shortlived, (void *)1);
		if (e) {
			say("churn: pthread_create: %s\n", strerror(e));
			exit(3);
		}
		void *r;
		e = pthread_join(t, &r);
		if (e || r != (void *)1) {
			say("churn: pthread_join: %s\n", strerror(e));
			exit(3);
		}
		churned++;
	}
	return NULL;
}

static void start(void *(*fn)(void *), long i) {
	pthread_t t;
	int e = pthread_create(&t, NULL, fn, (void *)i);
	if (e) {
		say("pthread_create: %s\n", strerror(e));
		exit(2);
	}
}

// threads N CHURN: N threads in all (main blocked reading stdin, spinners,
// sleepers, one condvar waiter), plus a thread creating and joining
// short-lived threads if CHURN is 1.
static int mode_threads(int n, int withChurn) {
	for (long i = 1; i < n; i++) {
		if (i == 3)
			start(waiter, i);
		else if (i % 2)
			start(spinner, i);
		else
			start(sleeper, i);
	}
	if (withChurn)
		start(churn, 0);
	say("ready %d %p %p\n", getpid(), (void *)counters, (void *)&churned);
	char line[64];
	while (fgets(line, sizeof line, stdin)) {
		if (line[0] == 'c') {
			unsigned long sum = 0;
			for (int i = 0; i < MAXT; i++)
				sum += counters[i];
			say("sum %lu churn %lu\n", sum, churned);
		} else if (line[0] == 'q') {
			return 0;
		}
	}
	return 0;
}

// spin: the main thread increments counters[0] forever.
static int mode_spin(void) {
	say("ready %d %p\n", getpid(), (void *)counters);
	for (;;)
		counters[0]++;
	return 0;
}

// ymm: loads a known pattern into ymm0-15, sets r12 to a marker, spins.
static unsigned char pattern[512] __attribute__((aligned(32)));
static int mode_ymm(void) {
	for (int k = 0; k < 512; k++)
		pattern[k] = (unsigned char)(k * 7 + 3);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	// CPUID.(EAX=0DH,ECX=2):EBX is the offset of the AVX state in the
	// standard XSAVE format.
	unsigned int a = 0, b = 0, c = 0, d = 0;
	__get_cpuid_count(0xd, 2, &a, &b, &c, &d);
	say("ready %d %u\n", getpid(), b);
	__asm__ volatile(
	    "vmovdqu 0(%0), %%ymm0\n\t"
	    "vmovdqu 32(%0), %%ymm1\n\t"
	    "vmovdqu 64(%0), %%ymm2\n\t"
	    "vmovdqu 96(%0), %%ymm3\n\t"
	    "vmovdqu 128(%0), %%ymm4\n\t"
	    "vmovdqu 160(%0), %%ymm5\n\t"
	    "vmovdqu 192(%0), %%ymm6\n\t"
	    "vmovdqu 224(%0), %%ymm7\n\t"
	    "vmovdqu 256(%0), %%ymm8\n\t"
	    "vmovdqu 288(%0), %%ymm9\n\t"
	    "vmovdqu 320(%0), %%ymm10\n\t"
	    "vmovdqu 352(%0), %%ymm11\n\t"
	    "vmovdqu 384(%0), %%ymm12\n\t"
	    "vmovdqu 416(%0), %%ymm13\n\t"
	    "vmovdqu 448(%0), %%ymm14\n\t"
	    "vmovdqu 480(%0), %%ymm15\n\t"
	    "movabs $0x1234567887654321, %%r13\n\t"
	    "mov %0, %%r12\n\t"
	    "1: pause\n\t"
	    "jmp 1b\n\t"
	    :
	    : "r"(pattern)
	    : "memory", "r12", "r13", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
	      "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	return 0;
}

// read: one read(2) on stdin, then report what it got.
static int mode_read(void) {
	say("ready %d\n", getpid());
	char buf[256];
	ssize_t n = read(0, buf, sizeof buf - 1);
	if (n < 0) {
		say("read error %d %s\n", errno, strerror(errno));
		return 1;
	}
	buf[n] = 0;
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	say("got %zd:%s\n", n, buf);
	return 0;
}

// sleep MS: nanosleep MS milliseconds, looping on EINTR with the remaining
// time; exits 0 only if at least MS elapsed.
static int mode_sleep(long ms) {
	say("ready %d\n", getpid());
	struct timespec t0, t1, req = {ms / 1000, (ms % 1000) * 1000000L}, rem;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int eintr = 0;
	while (nanosleep(&req, &rem) == -1) {
		if (errno != EINTR) {
			say("nanosleep error %d %s\n", errno, strerror(errno));
			return 2;
		}
		eintr++;
		req = rem;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
	say("slept eintr=%d elapsed_us=%ld\n", eintr, us);
	return us >= ms * 1000 ? 0 : 1;
}

// signals: handlers for SIGUSR1 (records its siginfo) and SIGTRAP; SIGUSR2
// and SIGRTMIN blocked, SIGRTMIN queued to itself with value 4242.
static volatile sig_atomic_t usr1_n, trap_n;
static volatile int usr1_code, usr1_pid;
static volatile long usr1_value;
static void on_usr1(int s, siginfo_t *si, void *uc) {
	(void)s;
	(void)uc;
	usr1_code = si->si_code;
	usr1_pid = si->si_pid;
	usr1_value = (long)si->si_value.sival_ptr;
	usr1_n++;
}
static void on_trap(int s) {
	(void)s;
	trap_n++;
}
static int mode_signals(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_trap;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTRAP, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	union sigval v = {.sival_ptr = (void *)4242};
	if (sigqueue(getpid(), SIGRTMIN, v)) {
		say("sigqueue: %s\n", strerror(errno));
		return 2;
	}
	say("ready %d %d\n", getpid(), SIGRTMIN);
	char line[64];
	while (fgets(line, sizeof line, stdin)) {
		if (line[0] == 'p') {
			say("usr1 n=%d code=%d pid=%d value=%ld\n", (int)usr1_n, usr1_code, usr1_pid, usr1_value);
		} else if (line[0] == 't') {
			raise(SIGTRAP);
			say("trap n=%d\n", (int)trap_n);
		} else if (line[0] == 'q') {
			return 0;
		}
	}
	return 0;
}

// zleader: the main thread exits with pthread_exit; a spinner lives on.
static int mode_zleader(void) {
	start(spinner, 1);
	start(sleeper, 2);
	say("ready %d %p\n", getpid(), (void *)counters);
	pthread_exit(NULL);
}

// vfork: on "v", vfork a child that execs /bin/true, wait for it, report.
static int mode_vfork(void) {
	say("ready %d\n", getpid());
	char line[64];
	while (fgets(line, sizeof line, stdin)) {
		if (line[0] != 'v')
			continue;
		pid_t c = vfork();
		if (c == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		int st = 0;
		if (c < 0 || waitpid(c, &st, 0) != c) {
			say("vfork/waitpid: %s\n", strerror(errno));
			return 2;
		}
		say("vforked %d status %d\n", (int)c, st);
	}
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 64;
	const char *m = argv[1];
	if (!strcmp(m, "threads") && argc == 4)
		return mode_threads(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(m, "spin"))
		return mode_spin();
	if (!strcmp(m, "ymm"))
		return mode_ymm();
	if (!strcmp(m, "read"))
		return mode_read();
	if (!strcmp(m, "sleep") && argc == 3)
		return mode_sleep(atol(argv[2]));
	if (!strcmp(m, "signals"))
		return mode_signals();
	if (!strcmp(m, "vfork"))
		return mode_vfork();
	if (!strcmp(m, "zleader"))
		return mode_zleader();
	return 64;
}
