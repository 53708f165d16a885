// threads: a multi-threaded checkpoint/restore victim.
//
//	threads [ROUNDS]
//
// - 8 worker threads pass a token round-robin (one mutex, one condition
//   variable per thread: the order of the work is deterministic), add to shared
//   counters, contend on a second mutex, and keep sums in thread-local storage
//   (initialised .tdata and zeroed .tbss). At the end every worker waits at a
//   barrier, main sends each one a signal with pthread_kill (glibc caches the
//   TIDs: this fails if they changed), and joins them (pthread_join waits for
//   the kernel to clear the thread's clear-tid word: it hangs if that address
//   was lost).
// - An AVX thread keeps a known pattern in ymm0-ymm7 inside one asm block that
//   spins for milliseconds, and checks it after every block, with a non-default
//   MXCSR and x87 control word.
// - Signals: a SA_SIGINFO|SA_RESTART|SA_ONSTACK handler on a sigaltstack,
//   raised by the main thread in a loop (it checks the altstack, si_code and
//   its sa_mask); a blocked thread-directed SIGUSR1 and queued, blocked
//   SIGRTMIN+1 (process) and SIGRTMIN+2 (thread) with values, left pending for
//   the whole run and checked with sigpending/sigtimedwait at the end;
//   ITIMER_REAL and ITIMER_VIRTUAL firing every 10 ms all along, whose signal
//   counts must still grow at the end.
//
// stdout (deterministic): a header, 10 progress lines, result lines, then
// exactly "PASS" or "FAIL: <what>". stderr: "threads: pid=N", "threads:
// tids=A,B,...", "threads: running", counters, "threads: end pid=N".
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NW 8
#define DEFAULT_ROUNDS 30000L

static uint64_t mix(uint64_t x) {
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static char failures[4096];
static void fail(const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&fail_mu);
	size_t l = strlen(failures);
	if (l < sizeof failures - 3)
		snprintf(failures + l, sizeof failures - l, "%s%s", l ? "; " : "", buf);
	pthread_mutex_unlock(&fail_mu);
}

static long rounds;

// Token passing.
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv[NW];
static int turn;
static uint64_t seq, total;
// Free contention.
static pthread_mutex_t mu2 = PTHREAD_MUTEX_INITIALIZER;
static uint64_t counter2;
// End barrier.
static pthread_mutex_t bmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bcv = PTHREAD_COND_INITIALIZER;
static int arrived, released;

static _Thread_local uint64_t tls_data = 0x1234567890abcdefULL; // .tdata
static _Thread_local uint64_t tls_acc;                        // .tbss
static _Thread_local pid_t tls_tid;
static _Thread_local volatile sig_atomic_t tls_kicks;

static pid_t tids[NW + 1];
static atomic_int started;

static void on_kick(int sig) {
	(void)sig;
	tls_kicks++;
}

static void *worker(void *arg) {
	int id = (int)(intptr_t)arg;
	tls_tid = gettid_();
	tids[id] = tls_tid;
	atomic_fetch_add(&started, 1);
	uint64_t local = 0;
	for (long r = 0; r < rounds; r++) {
		pthread_mutex_lock(&mu);
		while (turn != id)
			pthread_cond_wait(&cv[id], &mu);
		uint64_t v = mix((uint64_t)r * NW + id);
		seq = mix(seq ^ v);
		total += v;
		if (id == 0 && (r + 1) % (rounds / 10 ? rounds / 10 : 1) == 0) {
			printf("round %ld/%ld seq=%016" PRIx64 "\n", r + 1, rounds, seq);
			fflush(stdout);
		}
		turn = (id + 1) % NW;
		pthread_cond_signal(&cv[turn]);
		pthread_mutex_unlock(&mu);

		tls_acc += v;
		tls_data += (uint64_t)id + 1;
		for (int k = 0; k < 50; k++) // some work outside the locks
			local = mix(local + k);
		pthread_mutex_lock(&mu2);
		counter2 += (uint64_t)id + 1;
		pthread_mutex_unlock(&mu2);
	}
	// Check the thread-local state before the barrier.
	uint64_t want = 0;
	for (long r = 0; r < rounds; r++)
		want += mix((uint64_t)r * NW + id);
	int bad = 0;
	if (tls_acc != want) {
		fail("worker %d: TLS sum %016" PRIx64 ", want %016" PRIx64, id, tls_acc, want);
		bad = 1;
	}
	if (tls_data != 0x1234567890abcdefULL + (uint64_t)rounds * (id + 1)) {
		fail("worker %d: TLS .tdata value %016" PRIx64 " wrong", id, tls_data);
		bad = 1;
	}
	if (gettid_() != tls_tid) {
		fail("worker %d: gettid() is %d, was %d", id, (int)gettid_(), (int)tls_tid);
		bad = 1;
	}
	pthread_mutex_lock(&bmu);
	arrived++;
	pthread_cond_broadcast(&bcv);
	while (!released)
		pthread_cond_wait(&bcv, &bmu);
	pthread_mutex_unlock(&bmu);
	if (tls_kicks != 1) {
		fail("worker %d: got %d pthread_kill signals, want 1", id, (int)tls_kicks);
		bad = 1;
	}
	return (void *)(intptr_t)(bad ? -1 : id + 100);
}

// AVX: ymm0-7 hold a pattern through a long asm block.
static atomic_int avx_stop;
static long avx_blocks, avx_bad;
static void *avx_thread(void *arg) {
	(void)arg;
	tids[NW] = gettid_();
	atomic_fetch_add(&started, 1);
	int have_avx = __builtin_cpu_supports("avx");
	if (!have_avx)
		fprintf(stderr, "threads: no AVX on this CPU, checking xmm only\n");
	// MXCSR: round toward zero, flush-to-zero, denormals-are-zero, all
	// exceptions masked. x87 control word: 24-bit precision, round down.
	unsigned int mxcsr = 0x1f80 | 0x6000 | 0x8000 | 0x0040, got_mxcsr;
	unsigned short fcw = 0x047f, got_fcw;
	__asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
	__asm__ volatile("fldcw %0" ::"m"(fcw));
	static uint8_t pat[8][32] __attribute__((aligned(32)));
	static uint8_t out[8][32] __attribute__((aligned(32)));
	for (long b = 0; !atomic_load(&avx_stop); b++) {
		for (int r = 0; r < 8; r++)
			for (int k = 0; k < 32; k++)
				pat[r][k] = (uint8_t)mix((uint64_t)b * 256 + r * 32 + k);
		memset(out, 0, sizeof out);
		if (have_avx) {
			__asm__ volatile("vmovdqu 0(%[p]), %%ymm0\n\t"
			                 "vmovdqu 32(%[p]), %%ymm1\n\t"
			                 "vmovdqu 64(%[p]), %%ymm2\n\t"
			                 "vmovdqu 96(%[p]), %%ymm3\n\t"
			                 "vmovdqu 128(%[p]), %%ymm4\n\t"
			                 "vmovdqu 160(%[p]), %%ymm5\n\t"
			                 "vmovdqu 192(%[p]), %%ymm6\n\t"
			                 "vmovdqu 224(%[p]), %%ymm7\n\t"
			                 "mov %[n], %%rcx\n"
			                 "1:\n\t"
			                 "pause\n\t"
			                 "dec %%rcx\n\t"
			                 "jnz 1b\n\t"
			                 "vmovdqu %%ymm0, 0(%[o])\n\t"
			                 "vmovdqu %%ymm1, 32(%[o])\n\t"
			                 "vmovdqu %%ymm2, 64(%[o])\n\t"
			                 "vmovdqu %%ymm3, 96(%[o])\n\t"
			                 "vmovdqu %%ymm4, 128(%[o])\n\t"
			                 "vmovdqu %%ymm5, 160(%[o])\n\t"
			                 "vmovdqu %%ymm6, 192(%[o])\n\t"
			                 "vmovdqu %%ymm7, 224(%[o])\n\t"
			                 "vzeroupper\n\t"
			                 :
			                 : [p] "r"(pat), [o] "r"(out), [n] "r"(20000L)
			                 : "rcx", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
		} else {
			__asm__ volatile("movdqu 0(%[p]), %%xmm0\n\t"
			                 "movdqu 32(%[p]), %%xmm1\n\t"
			                 "mov %[n], %%rcx\n"
			                 "1:\n\t"
			                 "pause\n\t"
			                 "dec %%rcx\n\t"
			                 "jnz 1b\n\t"
			                 "movdqu %%xmm0, 0(%[o])\n\t"
			                 "movdqu %%xmm1, 32(%[o])\n\t"
			                 :
			                 : [p] "r"(pat), [o] "r"(out), [n] "r"(20000L)
			                 : "rcx", "memory", "cc", "xmm0", "xmm1");
			memcpy(out[0] + 16, pat[0] + 16, 16);
			memcpy(out[1] + 16, pat[1] + 16, 16);
			memcpy(out[2], pat[2], 6 * 32);
		}
		if (memcmp(pat, out, sizeof out) != 0) {
			if (avx_bad++ == 0)
				fail("ymm registers lost their values in block %ld", b);
		}
		__asm__ volatile("stmxcsr %0" : "=m"(got_mxcsr));
		__asm__ volatile("fnstcw %0" : "=m"(got_fcw));
		if ((got_mxcsr & ~0x3fU) != (mxcsr & ~0x3fU) || got_fcw != fcw) {
			if (avx_bad++ == 0)
				fail("MXCSR %#x / x87 control word %#x changed (want %#x / %#x)", got_mxcsr, got_fcw, mxcsr, fcw);
		}
		avx_blocks++;
	}
	return NULL;
}

// The sigaltstack handler.
static char *alt_sp;
static size_t alt_size = 1 << 16;
static volatile sig_atomic_t usr2_count, usr2_bad;
static void on_usr2(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	char here;
	if (sig != SIGUSR2 || si->si_code != SI_TKILL || si->si_pid != getpid())
		usr2_bad |= 1;
	if (&here < alt_sp || &here >= alt_sp + alt_size)
		usr2_bad |= 2;
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	if (!sigismember(&cur, SIGRTMIN + 4) || !sigismember(&cur, SIGUSR2))
		usr2_bad |= 4;
	usr2_count++;
}

static atomic_long alrm_count, vtalrm_count;
static void on_alrm(int sig) {
	(void)sig;
	atomic_fetch_add(&alrm_count, 1);
}
static void on_vtalrm(int sig) {
	(void)sig;
	atomic_fetch_add(&vtalrm_count, 1);
}

static double now(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check_queued(int sig, int want_code, int want_value) {
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	siginfo_t si;
	struct timespec zero = {0, 0};
	int r = sigtimedwait(&one, &si, &zero);
	if (r != sig)
		fail("pending signal %d: sigtimedwait gave %d (%s)", sig, r, strerror(errno));
	else if ((si.si_code != want_code && !(want_code == SI_TKILL && si.si_code == SI_USER)) || si.si_pid != getpid() || (want_code == SI_QUEUE && si.si_value.sival_int != want_value))
		fail("pending signal %d: si_code %d pid %d value %d, want %d %d %d", sig, si.si_code, (int)si.si_pid,
		     si.si_value.sival_int, want_code, (int)getpid(), want_value);
}

int main(int argc, char **argv) {
	rounds = argc > 1 ? atol(argv[1]) : DEFAULT_ROUNDS;
	if (rounds <= 0) {
		fprintf(stderr, "usage: threads [ROUNDS]\n");
		return 2;
	}
	pid_t pid = getpid();
	fprintf(stderr, "threads: pid=%d\n", (int)pid);
	printf("threads: workers=%d rounds=%ld\n", NW, rounds);
	fflush(stdout);

	// Signals left pending all along (blocked before the threads exist, so
	// every thread blocks them).
	sigset_t blk;
	sigemptyset(&blk);
	sigaddset(&blk, SIGUSR1);
	sigaddset(&blk, SIGRTMIN + 1);
	sigaddset(&blk, SIGRTMIN + 2);
	pthread_sigmask(SIG_BLOCK, &blk, NULL);
	raise(SIGUSR1); // thread-directed (tgkill) to main
	sigqueue(pid, SIGRTMIN + 1, (union sigval){.sival_int = 1111});
	sigqueue(pid, SIGRTMIN + 1, (union sigval){.sival_int = 2222});
	pthread_sigqueue(pthread_self(), SIGRTMIN + 2, (union sigval){.sival_int = 3333});

	// The sigaltstack handler.
	alt_sp = malloc(alt_size);
	stack_t ss = {.ss_sp = alt_sp, .ss_size = alt_size};
	if (sigaltstack(&ss, NULL) != 0) {
		printf("FAIL: sigaltstack: %s\n", strerror(errno));
		return 1;
	}
	struct sigaction sa = {.sa_sigaction = on_usr2, .sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK};
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGRTMIN + 4);
	sigaction(SIGUSR2, &sa, NULL);
	struct sigaction kick = {.sa_handler = on_kick, .sa_flags = SA_RESTART};
	sigemptyset(&kick.sa_mask);
	sigaction(SIGRTMIN + 3, &kick, NULL);

	// Interval timers.
	struct sigaction al = {.sa_handler = on_alrm, .sa_flags = SA_RESTART};
	sigemptyset(&al.sa_mask);
	sigaction(SIGALRM, &al, NULL);
	al.sa_handler = on_vtalrm;
	sigaction(SIGVTALRM, &al, NULL);
	struct itimerval it = {.it_interval = {0, 10000}, .it_value = {0, 10000}};
	setitimer(ITIMER_REAL, &it, NULL);
	setitimer(ITIMER_VIRTUAL, &it, NULL);

	for (int i = 0; i < NW; i++)
		pthread_cond_init(&cv[i], NULL);
	pthread_t th[NW], avx;
	for (int i = 0; i < NW; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0) {
			printf("FAIL: pthread_create\n");
			return 1;
		}
	pthread_create(&avx, NULL, avx_thread, NULL);
	while (atomic_load(&started) < NW + 1)
		sched_yield();
	fprintf(stderr, "threads: tids=");
	for (int i = 0; i <= NW; i++)
		fprintf(stderr, "%s%d", i ? "," : "", (int)tids[i]);
	fprintf(stderr, "\nthreads: running\n");

	// Main: raise SIGUSR2 on itself until the workers are done.
	long raised = 0;
	double t0 = now(CLOCK_MONOTONIC);
	for (;;) {
		pthread_mutex_lock(&bmu);
		int done = arrived == NW;
		pthread_mutex_unlock(&bmu);
		if (done)
			break;
		raise(SIGUSR2);
		raised++;
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL); // EINTR (a timer signal) is fine here
		if (raised % 500 == 0)
			fprintf(stderr, "threads: %.1fs usr2=%ld alrm=%ld vtalrm=%ld avx_blocks=%ld\n", now(CLOCK_MONOTONIC) - t0,
			        raised, atomic_load(&alrm_count), atomic_load(&vtalrm_count), avx_blocks);
	}
	fprintf(stderr, "threads: end pid=%d\n", (int)getpid());
	if (getpid() != pid)
		fail("getpid() is %d, was %d", (int)getpid(), (int)pid);
	if (gettid_() != pid)
		fail("main thread's tid is %d, want %d", (int)gettid_(), (int)pid);

	// pthread_kill every worker (uses glibc's cached TIDs), then release and
	// join them.
	for (int i = 0; i < NW; i++) {
		int e = pthread_kill(th[i], SIGRTMIN + 3);
		if (e != 0)
			fail("pthread_kill(worker %d): %s", i, strerror(e));
	}
	// Wait until every kick was handled before releasing the barrier.
	struct timespec settle = {0, 50000000};
	nanosleep(&settle, NULL);
	pthread_mutex_lock(&bmu);
	released = 1;
	pthread_cond_broadcast(&bcv);
	pthread_mutex_unlock(&bmu);
	int joined = 0;
	for (int i = 0; i < NW; i++) {
		void *ret;
		int e = pthread_join(th[i], &ret);
		if (e != 0)
			fail("pthread_join(worker %d): %s", i, strerror(e));
		else if ((intptr_t)ret != i + 100)
			fail("worker %d returned %ld", i, (long)(intptr_t)ret);
		else
			joined++;
	}

	// Timers keep firing: counts grow over 300 ms of CPU time.
	long a0 = atomic_load(&alrm_count), v0 = atomic_load(&vtalrm_count);
	double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
	volatile uint64_t spin = 0;
	while (now(CLOCK_PROCESS_CPUTIME_ID) - c0 < 0.3 && now(CLOCK_MONOTONIC) - w0 < 5)
		spin = mix(spin);
	long a1 = atomic_load(&alrm_count), v1 = atomic_load(&vtalrm_count);
	fprintf(stderr, "threads: timers at the end: alrm %ld -> %ld, vtalrm %ld -> %ld\n", a0, a1, v0, v1);
	if (a1 <= a0)
		fail("ITIMER_REAL stopped firing (SIGALRM count stays %ld)", a0);
	if (v1 <= v0)
		fail("ITIMER_VIRTUAL stopped firing (SIGVTALRM count stays %ld)", v0);
	struct itimerval cur;
	getitimer(ITIMER_REAL, &cur);
	if (cur.it_interval.tv_sec != 0 || cur.it_interval.tv_usec != 10000)
		fail("ITIMER_REAL interval %ld.%06ld", (long)cur.it_interval.tv_sec, (long)cur.it_interval.tv_usec);
	getitimer(ITIMER_VIRTUAL, &cur);
	if (cur.it_interval.tv_sec != 0 || cur.it_interval.tv_usec != 10000)
		fail("ITIMER_VIRTUAL interval %ld.%06ld", (long)cur.it_interval.tv_sec, (long)cur.it_interval.tv_usec);
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	setitimer(ITIMER_VIRTUAL, &off, NULL);

	atomic_store(&avx_stop, 1);
	pthread_join(avx, NULL);
	fprintf(stderr, "threads: avx blocks %ld, bad %ld\n", avx_blocks, avx_bad);
	if (avx_blocks == 0)
		fail("the AVX thread never ran");

	// The sigaltstack handler.
	if (usr2_count != raised)
		fail("SIGUSR2 handled %d times, raised %ld", (int)usr2_count, raised);
	if (usr2_bad)
		fail("SIGUSR2 handler saw a wrong state (flags %#x: 1 siginfo, 2 not on the altstack, 4 sa_mask)", (int)usr2_bad);
	struct sigaction old;
	sigaction(SIGUSR2, NULL, &old);
	if (old.sa_sigaction != on_usr2 || (old.sa_flags & (SA_SIGINFO | SA_RESTART | SA_ONSTACK)) != (SA_SIGINFO | SA_RESTART | SA_ONSTACK) ||
	    !sigismember(&old.sa_mask, SIGRTMIN + 4))
		fail("SIGUSR2 action changed (flags %#x)", old.sa_flags);
	stack_t cur_ss;
	sigaltstack(NULL, &cur_ss);
	if (cur_ss.ss_sp != alt_sp || cur_ss.ss_size != alt_size || (cur_ss.ss_flags & SS_DISABLE))
		fail("sigaltstack changed: sp %p size %zu flags %d", cur_ss.ss_sp, cur_ss.ss_size, cur_ss.ss_flags);

	// Pending signals.
	sigset_t pend;
	sigpending(&pend);
	if (!sigismember(&pend, SIGUSR1) || !sigismember(&pend, SIGRTMIN + 1) || !sigismember(&pend, SIGRTMIN + 2))
		fail("pending signals lost: USR1 %d RTMIN+1 %d RTMIN+2 %d", sigismember(&pend, SIGUSR1),
		     sigismember(&pend, SIGRTMIN + 1), sigismember(&pend, SIGRTMIN + 2));
	else {
		check_queued(SIGRTMIN + 1, SI_QUEUE, 1111);
		check_queued(SIGRTMIN + 1, SI_QUEUE, 2222);
		check_queued(SIGRTMIN + 2, SI_QUEUE, 3333);
		check_queued(SIGUSR1, SI_TKILL, 0); // glibc's sigtimedwait reports SI_TKILL as SI_USER
		sigpending(&pend);
		if (sigismember(&pend, SIGRTMIN + 1))
			fail("SIGRTMIN+1 queued more than twice");
	}

	// Shared results.
	uint64_t want_total = 0;
	for (long r = 0; r < rounds; r++)
		for (int id = 0; id < NW; id++)
			want_total += mix((uint64_t)r * NW + id);
	if (total != want_total)
		fail("shared total %016" PRIx64 ", want %016" PRIx64, total, want_total);
	if (counter2 != (uint64_t)rounds * NW * (NW + 1) / 2)
		fail("contended counter %" PRIu64 ", want %" PRIu64, counter2, (uint64_t)rounds * NW * (NW + 1) / 2);

	printf("result: joined=%d seq=%016" PRIx64 " total=%016" PRIx64 " counter2=%" PRIu64 "\n", joined, seq, total, counter2);
	if (failures[0]) {
		printf("FAIL: %s\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
